"""Live model jobs for the web app: encode an uploaded study with an SAE, and steer its report."""

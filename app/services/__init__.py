"""Read services: functions taking a Session and returning the API's pydantic models."""

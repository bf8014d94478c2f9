"""Feature dashboards over a report corpus: one streaming pass per shard, a merge, COPY writes."""

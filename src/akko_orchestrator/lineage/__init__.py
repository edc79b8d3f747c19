"""OpenLineage from every step: what it read and wrote, down to columns, through Airflow's OpenLineage provider."""

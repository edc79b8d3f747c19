"""Pipeline specs: YAML with source positions, typed models, and validation. Imports neither Airflow nor engines."""

"""Plan -> Airflow 3 DAG (Task SDK), and the per-pipeline shim files Airflow's dag-processor discovers."""

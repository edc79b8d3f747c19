"""Real Airflow 3 on this machine: configuration, metadata DB, in-process runs (`akko run`) and `akko dev`."""

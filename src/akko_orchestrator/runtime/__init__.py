"""What a step does when it runs. Plain functions over a `StepContext`: no Airflow import, testable on their own."""

import datetime as dt

from airflow.sdk import DAG, Asset, task

with DAG(
    dag_id="guard_iceberg_outlet",
    schedule=None,
    start_date=dt.datetime(2024, 1, 1),
    default_args={"owner": "data-platform"},
    tags=["team:demo"],
):

    @task(outlets=[Asset(name="akko.demo.sales", uri="iceberg://akko/demo/sales")])
    def write_sales() -> None:
        pass

    write_sales()

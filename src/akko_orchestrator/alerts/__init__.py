"""Alerts: failures, check warnings and missed deadlines sent to Slack or e-mail through Airflow's providers."""

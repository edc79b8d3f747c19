"""Project file (`akko.yaml`) and profiles, layered: defaults < akko.yaml < AKKO_* environment < CLI flags."""

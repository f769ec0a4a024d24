"""A sample job: prints where it runs and what sked tells it."""
import argparse
import os
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--greeting", default="hello")
args = parser.parse_args()

print(f"{args.greeting} from {os.environ.get('SKED_JOB')} "
      f"(run {os.environ.get('SKED_RUN_ID')}, scheduled {os.environ.get('SKED_SCHEDULED_AT')})")
print(f"python: {sys.executable}")
print(f"venv:   {sys.prefix}")

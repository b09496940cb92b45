#!/usr/bin/env bash
# The main job on the embedded default, under a real local Airflow: start the services (scheduler,
# dag-processor, triggerer, api-server, and a Spark Connect server for the feature jobs), load the
# history, run the demo day's daily partition and then several of its hours as Airflow backfills
# (real scheduled runs: real durations, task logs in the UI), print the summary and the UI login.
# The services keep running afterwards (`make ui` prints the login again, `make stop` stops them).
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$(dirname "$0")/airflow_init.sh"
start=$(date +%s)
echo "== ecomflow: source=${ECOMFLOW_SOURCE:-synthetic} size=${ECOMFLOW_SYNTHETIC_SIZE:-S} home=$ECOMFLOW_HOME"
eval "$(ecomflow plan --format shell)"
echo "== historical load of partitions before $DAILY_PARTITION"
ecomflow backfill-ingest --until "$DAILY_PARTITION"
demo_day="${HOURLY_PARTITION%T*}"
last_hour=$((10#${HOURLY_PARTITION#*T}))
hours=${ECOMFLOW_DEMO_HOURS:-6}
first_hour=$(( last_hour - hours + 1 < 0 ? 0 : last_hour - hours + 1 ))
printf -v first_ts '%sT%02d' "$demo_day" "$first_hour"
# Hours of the demo day before the first hourly run, as earlier hourly runs would have loaded them.
ecomflow backfill-ingest --since "${demo_day}T00" --until "$first_ts"
echo "== starting the local Airflow (logs: $AIRFLOW_HOME/services)"
ecomflow airflow start >/dev/null
echo "== ecomflow_daily for $DAILY_PARTITION (an Airflow backfill run through the scheduler)"
ecomflow airflow backfill ecomflow_daily "${DAILY_PARTITION}T00:00:00Z"
echo "== ecomflow_hourly for $first_ts:00 .. $HOURLY_PARTITION:00 ($hours hours, one run each)"
ecomflow airflow backfill ecomflow_hourly "${first_ts}:00:00Z" "${HOURLY_PARTITION}:00:00Z"
ecomflow summary
echo "== wall time: $(( $(date +%s) - start )) s"
ecomflow airflow ui

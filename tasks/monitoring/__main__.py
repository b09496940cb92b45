"""``python -m tasks.monitoring YYYY-MM-DD``."""

from tasks.monitoring.run import main

raise SystemExit(main())

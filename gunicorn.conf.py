"""gunicorn settings of the web service; gunicorn reads this file from its working directory.

The Docker image, docker-compose and bench/slack_clicks.py all start gunicorn from the
project root, so what the benchmark measures is what runs. Threads let a worker overlap
its database round trips; several processes let Python use every core. On 2 cores,
50 simultaneous Slack clicks gave p99 189 ms with 4 workers x 4 threads, 226-247 ms with
2 x 8 and 232 ms with 3 sync workers (bench/slack_clicks.py, 5 rounds each).
"""

import os

workers = int(os.environ.get("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1)))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = 30

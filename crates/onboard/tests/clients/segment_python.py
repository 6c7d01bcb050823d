"""Segment's official Python client (segment-analytics-python), unchanged, pointed at
Onboard's usage intake.

Usage: python3 segment_python.py <base-url> <write-key> <user-id> <email> <domain>
Sends identify, group, track and page for the user (gzip-compressed), flushes, and exits
non-zero if any delivery failed.
"""

import sys

from segment.analytics import Client

host, write_key, user_id, email, domain = sys.argv[1:6]
failures = []


def on_error(error, batch):
    failures.append(error)
    print(f"delivery failed: {error}", file=sys.stderr)


client = Client(write_key, host=host, gzip=True, max_retries=2, on_error=on_error)
client.identify(user_id, {"email": email, "name": "Ada Admin"})
client.group(user_id, f"org-{domain}", {"name": "Acme", "domain": domain})
client.track(user_id, "Lead Imported", {"count": 12})
client.page(user_id, name="Pipeline", properties={"path": "/pipeline"})
client.flush()
client.shutdown()
sys.exit(1 if failures else 0)

"""approvals: policies, decisions from every door, the Slack notifier and interactivity.

- ``actions.decide`` — the only decision path (Slack, web, API, policy); ``policy`` applies
  the tenant's default policy to freshly ingested changes (``receivers``).
- ``slack/``: ``blocks`` (Block Kit), ``transport`` (SlackTransport.notify/update,
  TransportError), ``delivery`` (queue/post/refresh actions behind ``tasks``), ``ratelimit``
  (per-channel pacing in Redis), ``verify`` (signature), ``interactions`` + ``views``
  (POST /slack/interactions/), ``links`` (signed one-time Slack identity links).
- ``views``: the web queue (/changes/), detail page with decision buttons, link confirmation.
- ``wording``: a change in words and its severity (Slack and web say the same thing).
- ``sweeps``: the beat job that sends notifications whose task was lost.
"""

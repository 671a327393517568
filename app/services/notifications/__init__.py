"""Notifications, the machinery every domain shares. What each domain says, and to
whom, is not here: it lives beside the domain, in app/services/<domain>_messages.py
(docs/DESIGN.md, "Notifications and the job queue").

- outbox.py: `notify(session, user_ids=..., content=Content(...))` in the caller's
  transaction, and `quoted` for titles in texts;
- recipients.py: who answers for an org (`responsible_admins`, `OrgAdmins`);
- delivery.py: the job that sends a WeChat subscribe message once, and the sweep;
- grants.py: how many subscribe messages a person still allows, per template;
- inbox.py: the person's in-app messages (GET /me/messages);
- scans.py: how a domain's scheduled scan (its `SCANS`) is found and run once per period.
"""

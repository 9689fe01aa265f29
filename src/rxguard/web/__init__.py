"""The rxguard web application: server-rendered pages for the people in a restricted program.

The infusion nurse's "authorized, or stop and here is why", the prescriber's
queue of holds and reauthorizations, the administrator's certifications,
overdue items and audit proof, and the drug information — in English and
Chinese. Pages are Jinja2 templates with htmx for in-page updates; there is
no front-end build and nothing is fetched from another site at run time.

Like every interface, a route parses the form, calls one program service
and shapes the page; the rules live in :mod:`rxguard.program`.
"""

from rxguard.web.mount import install

__all__ = ["install"]

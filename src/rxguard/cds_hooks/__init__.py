"""CDS Hooks 2.0 for EHRs: discovery, three services, cards, prefetch, feedback, JWT security.

An EHR calls rxguard at three points: opening a chart (``patient-view``),
choosing an order (``order-select``) and signing it (``order-sign``). Each
call is authenticated by a JWT the EHR signs (``security``), read into the
same patient facts the CLI uses (``prefetch``, ``orders``), assessed by the
engine, and answered with cards (``cards``). Feedback on cards goes into the
audit log (``feedback``). ``router`` is the HTTP interface over all of it.
"""

"""The restricted-distribution program: certification, enrollment, consent, per-dose
authorization, holds and overrides, infusion records, monitoring, adverse events,
export and import. Services take a Session and explicit ``at``/actor arguments;
no HTTP and no command-line code lives here.
"""

#!/usr/bin/env python3
"""Writes a realistic CSV export of CSM interactions for `onboard audit`.

Deterministic: the same --rows, --seed, --start and --days give the same bytes. Columns:
timestamp (RFC 3339, UTC, working hours on weekdays), csm, account, channel, minutes, note.
Notes are written from templates per kind of work (password and permission resets, UI
navigation questions, welcome emails and guides, scheduling back-and-forth, strategic work,
other), so the audit's built-in keywords sort them. Standard library only.

    python3 scripts/interactions.py --rows 3000 --seed 7 > samples/interactions.csv
"""

import argparse
import csv
import datetime
import random
import sys

CSMS = [
    "Dana Whitfield",
    "Marcus Oyelaran",
    "Priya Raman",
    "Tom Becker",
    "Lucia Ferreira",
    "Kenji Watanabe",
]

PREFIXES = [
    "Acme", "Bluebird", "Copperline", "Driftwood", "Evergreen", "Foxglove", "Granite",
    "Harbor", "Ironbark", "Juniper", "Kestrel", "Lumen", "Meridian", "Northwind", "Oakridge",
    "Pinecrest", "Quarry", "Redwood", "Saltmarsh", "Tidewater", "Umber", "Vantage",
    "Willow", "Yardley",
]
SUFFIXES = ["Logistics", "Health", "Foods", "Analytics", "Robotics", "Legal", "Media", "Labs"]

CHANNELS = {
    "password_reset": [("email", 5), ("chat", 4), ("call", 1)],
    "ui_navigation": [("chat", 4), ("email", 3), ("call", 2), ("meeting", 1)],
    "welcome_guides": [("email", 8), ("call", 1)],
    "scheduling": [("email", 7), ("chat", 2), ("call", 1)],
    "strategic": [("meeting", 6), ("call", 3), ("email", 1)],
    "other": [("email", 4), ("call", 2), ("chat", 2), ("meeting", 2)],
}

# (kind, weight, (min minutes, max minutes))
KINDS = [
    ("password_reset", 14, (5, 20)),
    ("ui_navigation", 20, (10, 35)),
    ("welcome_guides", 10, (10, 30)),
    ("scheduling", 14, (5, 25)),
    ("strategic", 27, (30, 90)),
    ("other", 15, (10, 45)),
]

PEOPLE = ["Anna", "Ben", "Chloe", "Dev", "Elif", "Farid", "Grace", "Hugo", "Ines", "Jonas"]
FEATURES = [
    "pipeline board", "lead import", "email sequences", "revenue report", "deal stages",
    "custom fields", "team dashboard", "activity log",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]

NOTES = {
    "password_reset": [
        "{p} locked out after too many attempts, reset password",
        "Password reset for {p}, the reset link had expired",
        "{p} cannot log in, sent a new sign-in link",
        "Gave {p} admin rights so they can invite users",
        "Permission change: {p} needs access to the {f}",
        "2FA device lost, reset MFA for {p}",
        "SSO login issue for {p}, cleared the session and re-sent the invite",
        "Role change for {p} from viewer to editor",
        "{p} can't log in on the new laptop, password reset",
    ],
    "ui_navigation": [
        "{p} asked where the {f} is",
        "How do I export the {f}? Showed {p} the export button",
        "Walked {p} through the {f} on a screen share",
        "{p} could not find the settings for the {f}",
        "Where do I change the default currency? Answered {p}",
        "{p} asked how to filter the {f} by owner",
        "Navigation question from {p}: which tab has the {f}",
        "Showed {p} how to bulk edit records in the {f}",
    ],
    "welcome_guides": [
        "Sent welcome email and getting started guide to {p}",
        "Intro email to the new admin {p} with the setup checklist",
        "Resent the invite and the onboarding docs to {p}",
        "Sent {p} the guide to the {f}",
        "Welcome call follow-up: sent {p} the training material",
        "Shared the help article on the {f} with {p}",
    ],
    "scheduling": [
        "Back and forth with {p} to find a time for the kickoff",
        "Rescheduled the training with {p} to {d}",
        "{p} asked to move the call to {d}, sent a new calendar invite",
        "Checked availability of {p} and their team for the workshop slot",
        "Scheduling the onboarding session: three emails with {p}",
        "{p} cancelled, rescheduling the kickoff for next week",
        "Time zone mix-up with {p}, booked a new time slot",
    ],
    "strategic": [
        "QBR with {p}: adoption, goals for next quarter",
        "Renewal discussion with {p}, flagged an expansion opportunity",
        "Success plan review with {p} and the exec sponsor",
        "Roadmap session with {p} on the {f}",
        "Mapped goals and KPIs for the {f} rollout with {p}",
        "Executive business review prepared with {p}",
        "Upsell call with {p}: 20 more seats for the sales team",
        "Health check with {p}, agreed on an adoption plan",
    ],
    "other": [
        "Bug report from {p} on the {f}, forwarded to engineering",
        "Invoice question from {p}, passed to billing",
        "Internal sync with sales about the account",
        "{p} reported slow loading of the {f}, opened a ticket",
        "Data import of 4,000 contacts for {p}, mapped the columns",
        "Feature request from {p}: recurring tasks in the {f}",
        "Updated the CRM record after the call with {p}",
        "Answered a security questionnaire for {p}",
    ],
}


def weighted(rng, pairs):
    total = sum(w for _, w in pairs)
    pick = rng.uniform(0, total)
    for value, weight in pairs:
        pick -= weight
        if pick <= 0:
            return value
    return pairs[-1][0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000, help="rows to write (default 3000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--start", default="2025-01-06", help="first day (default 2025-01-06)")
    parser.add_argument("--days", type=int, default=91, help="days covered (default 91)")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    start = datetime.datetime.fromisoformat(args.start).replace(tzinfo=datetime.timezone.utc)
    workdays = [
        start + datetime.timedelta(days=d)
        for d in range(args.days)
        if (start + datetime.timedelta(days=d)).weekday() < 5
    ]
    accounts = sorted(
        {f"{rng.choice(PREFIXES)} {rng.choice(SUFFIXES)}" for _ in range(80)}
    )
    # Some CSMs spend more of their time in traps than others.
    trap_bias = {csm: rng.uniform(0.7, 1.4) for csm in CSMS}
    csm_of_account = {account: rng.choice(CSMS) for account in accounts}

    rows = []
    for _ in range(args.rows):
        account = rng.choice(accounts)
        csm = csm_of_account[account] if rng.random() < 0.9 else rng.choice(CSMS)
        kinds = [
            (kind, weight * (trap_bias[csm] if kind not in ("strategic", "other") else 1))
            for kind, weight, _ in KINDS
        ]
        kind = weighted(rng, kinds)
        low, high = next(r for k, _, r in KINDS if k == kind)
        minutes = rng.randint(low, high)
        day = rng.choice(workdays)
        at = day + datetime.timedelta(minutes=rng.randint(8 * 60, 18 * 60 - 1))
        note = rng.choice(NOTES[kind]).format(
            p=rng.choice(PEOPLE), f=rng.choice(FEATURES), d=rng.choice(DAYS)
        )
        channel = weighted(rng, CHANNELS[kind])
        rows.append((at, csm, account, channel, minutes, note))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))

    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["timestamp", "csm", "account", "channel", "minutes", "note"])
    for at, csm, account, channel, minutes, note in rows:
        out.writerow([at.strftime("%Y-%m-%dT%H:%M:%SZ"), csm, account, channel, minutes, note])


if __name__ == "__main__":
    main()

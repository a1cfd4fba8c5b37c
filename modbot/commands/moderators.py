"""Manage the review page's moderators: `add NAME` (asks for a password), `remove NAME`, `list`.

Passwords are stored as argon2id hashes in review.users_file (readable by its owner only). The review page
checks the file on every request, so changes apply without a restart: a removed moderator's sessions end at
their next request, and changing a password (`add NAME` again) logs out that moderator's other sessions.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys

from modbot.commands.common import add_config_argument, settings_from_args
from modbot.errors import ConfigError
from modbot.review.auth import hash_password, load_users, save_users

NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD = 12


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add a moderator or change their password")
    add.add_argument("name")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input instead of prompting")
    remove = sub.add_parser("remove", help="remove a moderator")
    remove.add_argument("name")
    sub.add_parser("list", help="list moderators")


def run(args: argparse.Namespace) -> int:
    path = settings_from_args(args).review.users_file
    users = load_users(path)
    if args.action == "list":
        for name in sorted(users):
            print(name)
        return 0
    if args.action == "remove":
        if users.pop(args.name, None) is None:
            print(f"no moderator named {args.name!r} in {path}", file=sys.stderr)
            return 1
        save_users(path, users)
        print(f"removed {args.name} from {path}")
        return 0
    if not NAME.match(args.name):
        raise ConfigError(f"moderator name {args.name!r} is not allowed", hint="1-64 letters, digits, _ . @ -")
    password = _read_password(args.password_stdin)
    existed = args.name in users
    users[args.name] = hash_password(password)
    save_users(path, users)
    print(f"{'changed the password of' if existed else 'added'} {args.name} in {path}")
    return 0


def _read_password(from_stdin: bool) -> str:
    no_input = ConfigError("no password given on standard input",
                           hint="type it at the prompt, or pipe one line with --password-stdin")
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise no_input
        password = line.rstrip("\r\n")
    else:
        # Without a terminal getpass would fall back to echoing standard input (with a warning), which is
        # never what a script wants: it should say --password-stdin.
        if not sys.stdin.isatty():
            raise ConfigError("no terminal to ask for the password", hint="pipe one line with --password-stdin")
        try:
            password = getpass.getpass("Password: ")
            again = getpass.getpass("Again: ")
        except EOFError:
            raise no_input from None
        if again != password:
            raise ConfigError("the two passwords differ")
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"the password is shorter than {MIN_PASSWORD} characters")
    return password

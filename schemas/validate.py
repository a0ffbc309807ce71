#!/usr/bin/env python3
"""Validate JSON documents against one of ParcelFlow's schemas, offline.

usage: validate.py SCHEMA [--lines] [FILE ...]

SCHEMA is a schema file in this directory, by file name or short name, optionally with a
fragment: task-envelope, parcel, stage-payloads, task-envelope.v1.schema.json,
stage-payloads#/$defs/packaging.

Each FILE is one JSON document; with --lines each FILE is JSON Lines (one document per line).
Without FILE (or with FILE '-') documents are read from standard input, one per line. Blank
lines are skipped.

Prints one line per document, in input order:
    <source>: ok
    <source>: invalid: <path>: <message>
where <source> is the file name, or <file>:<line> (stdin:<line>) for JSON Lines, and <path>
is a JSON path such as $.parcel.contents.letters. Exits 0 when every document is valid, 1 when
any is not, 2 on a usage or schema error.

Needs the jsonschema package (Debian 12: apt-get install python3-jsonschema, version 4.10,
which has no `referencing`; newer versions use it). References between the schemas are
resolved from the files in this directory only: nothing is fetched from the network.
"""

import json
import pathlib
import re
import sys

try:
    import jsonschema
    from jsonschema import Draft202012Validator, FormatChecker
    from jsonschema.exceptions import best_match
except ImportError as error:  # pragma: no cover - reported to the caller
    sys.stderr.write(
        f"validate.py: {error}: install python3-jsonschema (./deploy/local/test.sh does)\n")
    sys.exit(2)

SCHEMA_DIR = pathlib.Path(__file__).resolve().parent
# Characters of one error message before it is cut (an instance can be a whole document).
MAX_MESSAGE = 240


def fail_usage(message):
    sys.stderr.write(f"validate.py: {message}\n")
    sys.exit(2)


def load_schemas():
    """Every *.schema.json here, by its $id (checked against the 2020-12 meta-schema)."""
    schemas = {}
    for path in sorted(SCHEMA_DIR.glob("*.schema.json")):
        with path.open(encoding="utf-8") as handle:
            schema = json.load(handle)
        Draft202012Validator.check_schema(schema)
        if "$id" not in schema:
            fail_usage(f"{path.name} has no $id")
        schemas[path.name] = schema
    return schemas


def refuse_remote(uri):
    raise jsonschema.exceptions.RefResolutionError(
        f"{uri} is not one of the schemas in {SCHEMA_DIR} (nothing is fetched from the network)")


def make_validator(schemas, root):
    """A Draft 2020-12 validator for `root` that resolves $refs from `schemas` only."""
    format_checker = FormatChecker()
    try:
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        # A Registry without `retrieve`: an unknown URI is an error, never a download.
        registry = Registry().with_resources(
            (schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012))
            for schema in schemas.values())
        return Draft202012Validator(root, registry=registry, format_checker=format_checker)
    except (ImportError, TypeError):
        # jsonschema < 4.18 (Debian 12 has 4.10): no `referencing` (or no `registry` argument),
        # so a RefResolver with a store, whose handlers refuse every remote scheme.
        from jsonschema import RefResolver

        store = {schema["$id"]: schema for schema in schemas.values()}
        handlers = {scheme: refuse_remote for scheme in ("http", "https", "file", "ftp")}
        resolver = RefResolver.from_schema(root, store=store, handlers=handlers)
        return Draft202012Validator(root, resolver=resolver, format_checker=format_checker)


def choose_schema(schemas, name):
    """The schema to validate against, for `name` as the usage describes."""
    name, _, fragment = name.partition("#")
    candidates = [name, f"{name}.schema.json", f"{name}.v1.schema.json"]
    for candidate in candidates:
        if candidate in schemas:
            schema = schemas[candidate]
            if not fragment:
                return schema
            return {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$ref": f"{schema['$id']}#{fragment}",
            }
    fail_usage(f"no schema '{name}' in {SCHEMA_DIR} (have: {', '.join(sorted(schemas))})")
    return None


def json_path(path):
    text = "$"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def check(validator, data):
    """'ok', or 'invalid: <path>: <message>' for the most relevant error."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"invalid: $: not UTF-8: {error}"
    try:
        document = json.loads(text, parse_constant=reject_constant)
    except ValueError as error:
        return f"invalid: $: not JSON: {error}"
    errors = list(validator.iter_errors(document))
    if not errors:
        return "ok"
    error = best_match(errors)
    message = " ".join(error.message.split())
    # A regular expression says little to a reader; the first sentence of the description says
    # what was meant.
    if error.validator in ("pattern", "not") and isinstance(error.schema, dict):
        description = error.schema.get("description")
        if description:
            rule = re.split(r"(?<=\.)\s+(?=[A-Z`])", description, maxsplit=1)[0]
            message = f"{error.instance!r} breaks the rule: {rule}"
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE - 1] + "…"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return f"invalid: {json_path(error.absolute_path)}: {message}"


def documents(files, lines):
    """(source, bytes) for every document, in order."""
    for name in files or ["-"]:
        if name == "-":
            source, data, per_line = "stdin", sys.stdin.buffer.read(), True
        else:
            try:
                data = pathlib.Path(name).read_bytes()
            except OSError as error:
                fail_usage(f"cannot read {name}: {error.strerror}")
            source, per_line = name, lines
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        if not per_line:
            yield source, data
            continue
        for number, line in enumerate(data.split(b"\n"), start=1):
            if line.strip():
                yield f"{source}:{number}", line


def main(argv):
    args = [arg for arg in argv if arg != "--lines"]
    lines = len(args) != len(argv)
    if not args or args[0] in ("-h", "--help"):
        (sys.stdout if args else sys.stderr).write(__doc__)
        return 0 if args else 2
    try:
        schemas = load_schemas()
    except (ValueError, jsonschema.exceptions.SchemaError) as error:
        fail_usage(f"a schema in {SCHEMA_DIR} is broken: {error}")
    validator = make_validator(schemas, choose_schema(schemas, args[0]))
    status = 0
    for source, text in documents(args[1:], lines):
        result = check(validator, text)
        if result != "ok":
            status = 1
        print(f"{source}: {result}")
    sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

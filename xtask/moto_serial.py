"""Runs moto's server (the DynamoDB emulator for the tests) handling one request at a time.

moto applies a DynamoDB transaction by deep-copying every table it touches and restoring that
copy when the transaction fails. With concurrent requests the restore erases writes that other
requests made in between, and the copy races with them. DynamoDB's own calls are atomic, so the
emulator must run them one at a time to behave like it.

And a copy of every table a transaction touches makes each transaction cost as much as the
tables hold: over a suite, or a measurement of thousands of sends, the emulator slowed down until
requests outlasted their budgets, and its memory grew by gigabytes. One request at a time,
nothing else changes a table while a transaction runs, so here a transaction copies only the
items it touches, as they were, and puts back exactly those when it fails.

usage: python moto_serial.py HOST PORT
"""

import copy
import sys

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


class NoTableCopies:
    """`copy` as moto's transaction code sees it: a table "copied" is the table itself, so
    moto's own restore changes nothing; `undo` below restores what the transaction touched."""

    def deepcopy(self, value, *args):
        return value if isinstance(value, Table) else copy.deepcopy(value, *args)

    def __getattr__(self, name):
        return getattr(copy, name)


def touched(backend, transact_items):
    """Each item the transaction names, as it is before the transaction: (table, hash, range, item)."""
    saved = []
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName"))
        key = op.get("Item") or op.get("Key") or {}
        if table is None or table.hash_key_attr not in key:
            continue
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = None
        if table.range_key_attr is not None:
            if table.range_key_attr not in key:
                continue
            range_value = DynamoType(key[table.range_key_attr])
        current = table.items.get(hash_value)
        if range_value is not None:
            current = current.get(range_value) if current is not None else None
        saved.append((table, hash_value, range_value, copy.deepcopy(current)))
    return saved


def undo(saved):
    for table, hash_value, range_value, item in reversed(saved):
        if range_value is None:
            if item is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = item
        elif item is None:
            if hash_value in table.items:
                table.items[hash_value].pop(range_value, None)
        else:
            table.items[hash_value][range_value] = item


original_transact_write_items = DynamoDBBackend.transact_write_items


def transact_write_items(self, transact_items):
    saved = touched(self, transact_items)
    dynamodb_models.copy = NoTableCopies()
    try:
        return original_transact_write_items(self, transact_items)
    except Exception:
        undo(saved)
        raise
    finally:
        dynamodb_models.copy = copy


DynamoDBBackend.transact_write_items = transact_write_items

host, port = sys.argv[1], int(sys.argv[2])
run_simple(host, port, DomainDispatcherApplication(create_backend_app), threaded=False, use_reloader=False)

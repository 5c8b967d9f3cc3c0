"""Runs moto's server (the DynamoDB emulator for the tests) handling one request at a time.

moto applies a DynamoDB transaction by deep-copying every table it touches and restoring that
copy when the transaction fails. With concurrent requests the restore erases writes that other
requests made in between, and the copy races with them. DynamoDB's own calls are atomic, so the
emulator must run them one at a time to behave like it.

moto also copies a table once per transaction item that touches it: a group send's transaction
of 98 feed items copied the feeds table 98 times, which made the emulator slow and its memory
grow by gigabytes over the suite. Every copy is taken before any item is applied, so the copies
of one table are equal; here a transaction copies each table once and uses that copy for all.

usage: python moto_serial.py HOST PORT
"""

import copy
import sys

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


class CopyEachTableOnce:
    """`copy` as moto's transaction code sees it, for the length of one transaction."""

    def __init__(self):
        # Keyed by id, holding the original too, so that no id is reused while this lives.
        self.tables = {}

    def deepcopy(self, value, *args):
        if not isinstance(value, Table):
            return copy.deepcopy(value, *args)
        if id(value) not in self.tables:
            self.tables[id(value)] = (value, copy.deepcopy(value))
        return self.tables[id(value)][1]

    def __getattr__(self, name):
        return getattr(copy, name)


original_transact_write_items = DynamoDBBackend.transact_write_items


def transact_write_items(self, transact_items):
    dynamodb_models.copy = CopyEachTableOnce()
    try:
        return original_transact_write_items(self, transact_items)
    finally:
        dynamodb_models.copy = copy


DynamoDBBackend.transact_write_items = transact_write_items

host, port = sys.argv[1], int(sys.argv[2])
run_simple(host, port, DomainDispatcherApplication(create_backend_app), threaded=False, use_reloader=False)

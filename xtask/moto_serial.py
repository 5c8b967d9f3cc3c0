"""Runs moto's server (the DynamoDB emulator for the tests) handling one request at a time.

moto applies a DynamoDB transaction by deep-copying every table it touches and restoring that
copy when the transaction fails. With concurrent requests the restore erases writes that other
requests made in between, and the copy races with them. DynamoDB's own calls are atomic, so the
emulator must run them one at a time to behave like it.

usage: python moto_serial.py HOST PORT
"""

import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

host, port = sys.argv[1], int(sys.argv[2])
run_simple(host, port, DomainDispatcherApplication(create_backend_app), threaded=False, use_reloader=False)

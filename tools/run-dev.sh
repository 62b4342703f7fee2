#!/bin/sh
# make run: serve the module on 127.0.0.1, http on PORT (default 8080) and
# https on TLS_PORT (default 8443), until Ctrl-C. tools/devserver.py --help.
exec /usr/bin/python3 "$(dirname "$0")/devserver.py" "$@"

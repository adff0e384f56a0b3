#!/usr/bin/env bash
# foreground.sh COMMAND [ARG…]: runs COMMAND as the terminal's foreground
# job (make run, make demo). Ctrl-C then interrupts COMMAND alone, not make
# and its shell, so make ends with COMMAND's own status: 0 when the server
# drains and stops, and no "make: *** … Interrupt". Without a terminal it
# just runs COMMAND.
if [ -t 0 ] && [ -t 2 ]; then
  set -m            # job control: COMMAND gets a process group of its own
  "$@" &
  fg %+ >/dev/null  # … and the terminal; fg returns COMMAND's status
  exit
fi
exec "$@"

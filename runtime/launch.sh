#!/bin/sh
# specc's launcher: sets the attempt's environment from the envelope that opens its stdin, then
# execs the tool, which reads the rest of stdin (its arguments) untouched. The values never stand
# in the container's configuration. Each envelope line is NAME=VALUE with every byte of VALUE
# written as a \0NNN octal escape; an empty line ends the envelope. `read` takes one byte at a
# time from a pipe, so nothing past the envelope is consumed.
# The shell exports a PWD of its own; the tool gets none, as without the launcher.
unset PWD
while IFS= read -r specc_line; do
  [ -n "$specc_line" ] || break
  specc_value=$(printf '%bx' "${specc_line#*=}")
  export "${specc_line%%=*}=${specc_value%x}"
done
unset specc_line specc_value
exec "$@"

#!/bin/sh
# Gives AWS's Runtime Interface Emulator the filesystem layout of a Lambda execution environment,
# inside a private mount namespace, so nothing is created or changed on the machine:
#
#   unshare --mount --propagation private -- sh sandbox.sh SCRATCH LAYER -- COMMAND...
#
#   /opt        the machine's /opt (overlaid: writes go to memory) with every entry of LAYER
#               (a layer directory, e.g. build/layer; "-" for none) bound on top, as Lambda
#               extracts layers into /opt: the emulator starts /opt/extensions/* at init;
#   /var/task   SCRATCH/task (the function: its bootstrap and handler module), under an overlaid
#               /var;
#   /etc/hosts  SCRATCH/hosts (the machine's entries plus sandbox.localdomain, which Lambda
#               resolves to the environment and the Telemetry API delivers to).
#
# The mounts live as long as the namespace, i.e. until COMMAND and its children have exited; the
# upper layers of the overlays are a tmpfs mounted only inside it.
set -eu
scratch=$1
layer=$2
[ "$3" = "--" ] || {
  echo "usage: sandbox.sh SCRATCH LAYER -- COMMAND..." >&2
  exit 2
}
shift 3

upper=$scratch/upper
mkdir -p "$upper"
mount -t tmpfs -o size=64m,mode=0755 sandbox-upper "$upper"
for dir in opt var; do
  mkdir -p "$upper/$dir/upper" "$upper/$dir/work"
  mount -t overlay "sandbox-$dir" -o "lowerdir=/$dir,upperdir=$upper/$dir/upper,workdir=$upper/$dir/work" "/$dir"
done

if [ "$layer" != "-" ]; then
  for entry in "$layer"/* "$layer"/.[!.]*; do
    [ -e "$entry" ] || continue
    target=/opt/${entry##*/}
    if [ -d "$entry" ]; then mkdir -p "$target"; else : >"$target"; fi
    # Read-only, as Lambda mounts layers.
    mount --bind "$entry" "$target"
    mount -o remount,bind,ro "$target"
  done
fi

mkdir -p /var/task
mount --bind "$scratch/task" /var/task
mount --bind "$scratch/hosts" /etc/hosts

cd /var/task
exec "$@"

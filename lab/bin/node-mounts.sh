#!/usr/bin/env bash
# Runs a lab node's runtime process (containerd, then kubelet joining it) in the node's
# own mount namespace and cgroup. Usage:
#   ip netns exec hlb-nodeN node-mounts.sh setup <tunables dir> <var dir> <cgroup> -- <command...>
#   nsenter -t <pid of the first> -m -n node-mounts.sh join <cgroup> -- <command...>
# `ip netns exec` gave this process a private mount namespace (slave of the host's, so
# nothing mounted here shows outside) with a /sys of the node's network namespace, which
# lacks the cgroup mounts: `setup` mounts the host's cgroup hierarchies again (the same
# hierarchies, so limits and cleanup act on the real ones), gives the node its own /var and
# /run, and shows kubelet's wanted kernel
# settings in files laid over /proc/sys, so kubelet never writes the host's kernel.
# Where this process sits below a hierarchy's root (a memory cgroup the session was given),
# that cgroup is laid over the hierarchy's mount point: the node's cgroups (`/hlb-nodeN/...`
# to kubelet and runc) are then children of it, never outside it.
set -euo pipefail

# This process's cgroup in the hierarchy whose controllers are $1 ('' = the unified one).
own_path() {
  while IFS=: read -r _ ctrls path; do
    if [[ $ctrls == "$1" ]]; then echo "$path"; return; fi
  done < /proc/self/cgroup
}
mode=$1; shift
if [[ $mode == setup ]]; then
  tunables=$1 var=$2; shift 2
  # What kubelet, containerd, its shims and runc write to fixed paths (/var/log/pods,
  # /var/lib/cni, /run/containerd, ...) stays in the node: its own /var and an empty /run.
  mkdir -p "$var/lib" "$var/log" "$var/tmp"
  ln -sfn /run "$var/run"
  mount --bind "$var" /var
  mount -t tmpfs -o mode=755 tmpfs /run
  if ! mountpoint -q /sys/fs/cgroup; then
    mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
    while read -r _ target fstype opts _; do
      [[ $target == /sys/fs/cgroup/* ]] || continue
      mkdir -p "$target"
      # Keep only the options that name the hierarchy (controllers or name=).
      sel=$(tr ',' '\n' <<<"$opts" | { grep -vE '^(rw|ro|relatime|nosuid|nodev|noexec|seclabel)$' || true; } | paste -sd, -)
      own=$(own_path "$sel")
      if [[ -z $own || $own == / ]]; then
        mount -t "$fstype" ${sel:+-o "$sel"} cgroup "$target"
      else
        # One mount whose root is our cgroup (runc reads the first mount of a hierarchy
        # and its root from mountinfo; a second mount stacked on the full one would lie).
        mkdir -p /run/hlb-cg
        mount -t "$fstype" ${sel:+-o "$sel"} cgroup /run/hlb-cg
        mount --bind "/run/hlb-cg$own" "$target"
        umount /run/hlb-cg
      fi
    done < "$tunables/host-mounts"
  fi
  for f in $(cd "$tunables" && find . -type f ! -name host-mounts | sed 's|^\./||'); do
    mount --bind "$tunables/$f" "/proc/sys/$f"
  done
fi
cg=$1; shift
[[ $1 == -- ]] && shift
# containerd finds its shim (built next to it) on PATH.
PATH="$(dirname "$1"):$PATH"
# Joins $2 in hierarchy $1, creating it; a new cpuset group starts with no CPUs or memory
# nodes (nothing could join it), so it gets its parent's.
join_cgroup() {
  local path=$1 parent part parts
  IFS=/ read -ra parts <<<"${2#/}"
  for part in "${parts[@]}"; do
    parent=$path path=$path/$part
    mkdir -p "$path"
    if [[ -f $path/cpuset.cpus && -z $(<"$path/cpuset.cpus") ]]; then
      cat "$parent/cpuset.cpus" > "$path/cpuset.cpus"
      cat "$parent/cpuset.mems" > "$path/cpuset.mems"
    fi
  done
  echo $$ > "$path/cgroup.procs"
}
for h in /sys/fs/cgroup/*; do
  [[ -f "$h/cgroup.procs" ]] && join_cgroup "$h" "$cg"
done
exec "$@"

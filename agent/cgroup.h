/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup.h - container id and Kubernetes pod UID of a process, from the
 * paths in /proc/PID/cgroup.
 *
 * The file has one "HIERARCHY:CONTROLLERS:PATH" line per hierarchy: many
 * lines with cgroup v1, the single "0::PATH" with v2.  Container engines put
 * each container in a cgroup named after its 64-hex id; the shapes seen in
 * the wild:
 *
 *   docker, cgroupfs driver      /docker/<id>
 *   docker, systemd driver       /system.slice/docker-<id>.scope
 *   podman                       /machine.slice/libpod-<id>.scope[/container]
 *                                /libpod_parent/libpod-<id>
 *   containerd (Kubernetes)      /kubepods.slice/kubepods-burstable.slice/
 *                                  kubepods-burstable-pod<uid_with_underscores>.slice/
 *                                  cri-containerd-<id>.scope
 *   cri-o                        .../crio-<id>.scope
 *   Kubernetes, cgroupfs driver  /kubepods/besteffort/pod<uid>/<id>
 *
 * Rules: the container id is the last path component that is 64 hex digits,
 * or ends in "-<64 hex>" (".scope" removed), and is not a runtime's monitor
 * ("...conmon-<id>": conmon runs on the host, outside the container).  The
 * pod UID is the last component that is "pod<uid>" or ends in "-pod<uid>"
 * (".slice" removed), uid in the 8-4-4-4-12 form with '-' or (systemd
 * driver) '_' separators.  When a path has a pod, the container id must come
 * after it (in Kubernetes-in-Docker the node's own container id comes
 * first).  Paths may be relative to the reader's cgroup namespace
 * ("/../../kubepods/..."): ".." components are simply skipped.  A process
 * outside any container (a host process) gets no id: a 64-hex id must be
 * present, nothing is guessed.  Static (mirror) pods name their cgroup after
 * a 32-hex config hash, not their UID: no k8s.pod.uid for them.
 *
 * With cgroup v1 the first line that yields a container id is used (with
 * the pod UID of that line); when none does, the first pod UID found.
 */
#ifndef SPANBPF_CGROUP_H
#define SPANBPF_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CGROUP_CONTAINER_ID_LEN 64	/* hex digits */
#define CGROUP_POD_UID_LEN 36		/* 8-4-4-4-12 */
/* Bytes of /proc/PID/cgroup looked at; a line cut by this limit is ignored. */
#define CGROUP_FILE_MAX (64 * 1024)

struct cgroup_ids {
	char container_id[CGROUP_CONTAINER_ID_LEN + 1];	/* lowercase hex, or "" */
	char pod_uid[CGROUP_POD_UID_LEN + 1];		/* lowercase, '-' separated, or "" */
};

/*
 * The ids in one cgroup path (n bytes, need not be NUL-terminated; any bytes
 * are fine).  ids is cleared first.  Returns whether a container id was
 * found.
 */
bool cgroup_parse_path(const char *path, size_t n, struct cgroup_ids *ids);

/*
 * The ids in the content of a /proc/PID/cgroup file (n bytes, any content).
 * complete is false when buf may end in the middle of a line (the read was
 * cut): that last line is then ignored.  ids is cleared first.  Returns
 * whether a container id was found.
 */
bool cgroup_parse(const char *buf, size_t n, bool complete, struct cgroup_ids *ids);

/*
 * Read proc_root/TGID/cgroup.  Returns 0 (ids set, possibly empty), or -1
 * when the file cannot be read (ids cleared).
 */
int cgroup_read(const char *proc_root, uint32_t tgid, struct cgroup_ids *ids);

#endif /* SPANBPF_CGROUP_H */

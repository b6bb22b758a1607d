package chaos

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// SocketOwner names the process that holds the local end of a loopback
// TCP connection: remote is the address a relay sees its client connect
// from (the client's local address), local the relay's listen address,
// and pids the candidate processes by name. It finds the socket's inode in
// /proc/net/tcp (local port = remote's port, remote port = local's port),
// then the candidate whose /proc/<pid>/fd holds "socket:[inode]". "" when
// not found (not Linux, the socket is gone, another process). Reading
// /proc of one's own children needs no privilege.
//
// This is how one relay in front of a node's port can still cut one
// client process's links and not another's: every process connects from
// 127.0.0.1, so only the owner of the socket tells them apart.
func SocketOwner(remote, local net.Addr, pids map[int]string) string {
	ra, ok1 := remote.(*net.TCPAddr)
	la, ok2 := local.(*net.TCPAddr)
	if !ok1 || !ok2 {
		return ""
	}
	inode := socketInode(ra.Port, la.Port)
	if inode == "" {
		return ""
	}
	want := "socket:[" + inode + "]"
	for pid, name := range pids {
		dir := fmt.Sprintf("/proc/%d/fd", pid)
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if l, err := os.Readlink(dir + "/" + e.Name()); err == nil && l == want {
				return name
			}
		}
	}
	return ""
}

// socketInode returns the inode of the TCP socket whose local port is
// lport and remote port rport, from /proc/net/tcp and tcp6.
func socketInode(lport, rport int) string {
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 || fs[0] == "sl" {
				continue
			}
			if hexPort(fs[1]) == lport && hexPort(fs[2]) == rport {
				f.Close()
				return fs[9]
			}
		}
		f.Close()
	}
	return ""
}

// hexPort parses the port of a /proc/net/tcp address ("0100007F:1F90").
func hexPort(addr string) int {
	_, p, ok := strings.Cut(addr, ":")
	if !ok {
		return -1
	}
	v, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return -1
	}
	return int(v)
}

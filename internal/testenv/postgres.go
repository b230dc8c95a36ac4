package testenv

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PrivatePostgres is a PostgreSQL cluster a test starts for itself (initdb
// in a temporary directory, a postmaster on a free loopback port), so that
// it can do to the server what must never be done to a shared one: freeze
// it (SIGSTOP), kill it. It is stopped and deleted when the test ends.
type PrivatePostgres struct {
	// URL reaches the cluster's postgres database as the superuser
	// postgres (trust authentication, loopback only).
	URL string
	dir string
	cmd *exec.Cmd
	// exited is closed when the postmaster has exited.
	exited chan struct{}
	t      testing.TB
}

// postgresBinDir is the newest /usr/lib/postgresql/*/bin holding initdb and
// postgres, or "".
func postgresBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if fileExists(filepath.Join(d, "initdb")) && fileExists(filepath.Join(d, "postgres")) {
			return d
		}
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// asUser runs the cluster's programs: initdb and postgres refuse to run as
// root, so a root test runs them as the postgres user (set in the child
// before exec, so the postmaster's PID is the command's), and any other
// user runs them as itself. The second result is the uid and gid that
// must own the data directory (nil: the current user's).
func asUser() (*syscall.SysProcAttr, *syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return &syscall.SysProcAttr{Setpgid: true}, nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, nil, fmt.Errorf("running as root and there is no postgres user to run initdb as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, nil, fmt.Errorf("postgres user: uid %q gid %q", u.Uid, u.Gid)
	}
	c := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return &syscall.SysProcAttr{Credential: c, Setpgid: true}, c, nil
}

// StartPostgres initializes and starts a private PostgreSQL cluster and
// waits until it accepts connections. The test is skipped, saying why, when
// no PostgreSQL server binaries are installed or the cluster cannot be
// initialized. The cluster is thawed (if frozen), stopped and deleted when
// the test ends, whether it passed or not. It never touches another
// cluster: it has its own directory, port and processes, and no Unix
// socket.
func StartPostgres(t testing.TB) *PrivatePostgres {
	t.Helper()
	bin := postgresBinDir()
	if bin == "" {
		t.Skip("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin: the private cluster tests need initdb and postgres")
	}
	attr, owner, err := asUser()
	if err != nil {
		t.Skipf("cannot run a private PostgreSQL cluster: %v", err)
	}
	// Not t.TempDir: its parents are private to the test's user, and the
	// postgres user must reach the data directory.
	root, err := os.MkdirTemp("", "gatehouse-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if owner != nil {
		if err := os.Chown(dir, int(owner.Uid), int(owner.Gid)); err != nil {
			t.Skipf("cannot give the private cluster's directory to the postgres user: %v", err)
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", dir, "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--no-locale", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = attr
	initdb.Dir = root
	initdb.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "LC_ALL=C"}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Skipf("initdb of a private PostgreSQL cluster failed (%v): %s", err, out)
	}

	port := freePort(t)
	logFile, err := os.Create(filepath.Join(root, "postgres.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", dir, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=off",
		"-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=60",
		"-c", "shared_buffers=16MB")
	// A test binary killed outright takes its cluster with it (immediate
	// shutdown), rather than leaving a postmaster behind.
	pattr := *attr
	pattr.Pdeathsig = syscall.SIGQUIT
	cmd.SysProcAttr = &pattr
	cmd.Dir = root
	cmd.Env = initdb.Env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the private PostgreSQL cluster: %v", err)
	}
	p := &PrivatePostgres{
		URL: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
		dir: dir, cmd: cmd, exited: make(chan struct{}), t: t,
	}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(root, "postgres.log"))
			t.Logf("log of the private PostgreSQL cluster (last 3000 bytes):\n%s", lastBytes(b, 3000))
		}
	})
	if err := p.waitReady(30 * time.Second); err != nil {
		t.Fatalf("the private PostgreSQL cluster did not start: %v", err)
	}
	return p
}

// freePort is a loopback TCP port nobody listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// waitReady polls until the cluster answers a query.
func (p *PrivatePostgres) waitReady(within time.Duration) error {
	db, err := sql.Open("pgx", p.URL+"&connect_timeout=2")
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return errors.New("the postmaster exited")
		default:
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// processes are the PIDs of the postmaster and of every process it started
// (its backends and auxiliary processes), postmaster first.
func (p *PrivatePostgres) processes() []int {
	pm := p.cmd.Process.Pid
	pids := []int{pm}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == pm {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read
		// after the last ')'.
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pm) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// signal sends sig to the postmaster and its children.
func (p *PrivatePostgres) signal(sig syscall.Signal) {
	for _, pid := range p.processes() {
		_ = syscall.Kill(pid, sig)
	}
}

// Freeze stops (SIGSTOP) the postmaster first, so it starts no new
// backend, then every backend: the server keeps its sockets open and
// answers nothing, as a hung machine or a stalled disk would.
func (p *PrivatePostgres) Freeze() { p.signal(syscall.SIGSTOP) }

// Thaw resumes (SIGCONT) every process of the cluster.
func (p *PrivatePostgres) Thaw() { p.signal(syscall.SIGCONT) }

// stop thaws the cluster and shuts it down (fast shutdown; killed if it
// does not stop within 15 s).
func (p *PrivatePostgres) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.Thaw()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.t.Logf("the private PostgreSQL cluster did not stop within 15 s: killing it")
		pids := p.processes()
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		<-p.exited
	}
}

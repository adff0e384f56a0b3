// Package pgtest gives tests (and the benchmark) a real PostgreSQL: the
// server named by TEST_DATABASE_URL, or a throwaway cluster started from the
// installed server binaries (initdb and postgres run as the postgres user
// when this process is root), torn down afterwards.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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

	"github.com/jackc/pgx/v5"
)

// Cluster is a PostgreSQL server this process started.
type Cluster struct {
	Dir  string
	Port int
	bin  string
	cmd  *exec.Cmd
	cred *syscall.Credential
	opts []string
	log  *os.File
}

// URL of a database on the cluster.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// BinDir finds the PostgreSQL server binaries.
func BinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("postgres"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries (initdb, postgres) not found: install postgresql (Debian: apt-get install postgresql-15)")
}

// Options tune a cluster. Durable keeps fsync on (benchmarks); tests turn
// it off for speed.
type Options struct {
	Durable bool
	Params  []string // extra server settings, "name=value"
}

// Start initialises and starts a cluster in a new temporary directory.
func Start(opts Options) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "marketing-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtest: running as root needs a postgres user to run initdb as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	initdb := c.command("initdb", "-D", filepath.Join(dir, "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb: %w: %s", err, out)
	}
	c.opts = []string{"-c", "max_connections=200", "-c", "shared_buffers=128MB"}
	if !opts.Durable {
		c.opts = append(c.opts, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	for _, p := range opts.Params {
		c.opts = append(c.opts, "-c", p)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c.Port = port
	if err := c.Restart(); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if c.cred != nil {
		cmd.SysProcAttr.Credential = c.cred
	}
	return cmd
}

// Restart starts the server (again) on the same port and data directory and
// waits until it accepts connections.
func (c *Cluster) Restart() error {
	if c.cmd != nil {
		return errors.New("pgtest: cluster already running")
	}
	args := append([]string{"-D", filepath.Join(c.Dir, "data"), "-p", strconv.Itoa(c.Port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + c.Dir}, c.opts...)
	cmd := c.command("postgres", args...)
	log, err := os.OpenFile(filepath.Join(c.Dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	c.cmd, c.log = cmd, log
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(c.Dir, "postgres.log"))
			return fmt.Errorf("pgtest: postgres did not become ready: %w\n%s", err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Halt stops the server at once (immediate shutdown) but keeps its data, so
// Restart can bring it back: the way to test an outage.
func (c *Cluster) Halt() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGQUIT)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	c.log.Close()
	c.cmd = nil
}

// Stop halts the server and removes its directory.
func (c *Cluster) Stop() {
	c.Halt()
	os.RemoveAll(c.Dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// envURL names the variable through which Main hands the server to tests.
const envURL = "TEST_DATABASE_URL"

// EnvPooler names the variable that puts a pooler between the tests and
// the server: PGTEST_POOLER=pgbouncer runs PgBouncer in transaction mode
// in front of it, and NewDatabase hands out URLs through it.
const EnvPooler = "PGTEST_POOLER"

// envPoolerURL names the variable through which Run hands the pooler to
// NewDatabase.
const envPoolerURL = "TEST_POOLER_URL"

// Pooled reports whether NewDatabase hands out URLs through a pooler.
func Pooled() bool { return os.Getenv(EnvPooler) != "" }

// Main runs a package's tests with a PostgreSQL available and exits.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run runs a package's tests with a PostgreSQL available: the one in
// TEST_DATABASE_URL, or a throwaway cluster for the whole package; with
// PGTEST_POOLER=pgbouncer, also a PgBouncer in front of it.
func Run(m *testing.M) int {
	if os.Getenv(envURL) == "" {
		c, err := Start(Options{})
		if err != nil {
			if os.Getenv("CI") == "true" {
				fmt.Fprintln(os.Stderr, "pgtest: CI=true and no PostgreSQL:", err)
				return 1
			}
			fmt.Fprintln(os.Stderr, "pgtest: no PostgreSQL, its tests will be skipped:", err)
			return m.Run()
		}
		os.Setenv(envURL, c.URL("postgres"))
		defer os.Unsetenv(envURL)
		defer c.Stop()
	}
	if p := os.Getenv(EnvPooler); p != "" {
		if p != "pgbouncer" {
			fmt.Fprintf(os.Stderr, "pgtest: %s=%s: the one pooler known is pgbouncer\n", EnvPooler, p)
			return 1
		}
		pooler, err := StartPooler(os.Getenv(envURL))
		if err != nil {
			if os.Getenv("CI") == "true" {
				fmt.Fprintln(os.Stderr, "pgtest: CI=true and no PgBouncer:", err)
				return 1
			}
			fmt.Fprintln(os.Stderr, "pgtest: no PgBouncer, the tests through it will be skipped:", err)
			return m.Run()
		}
		os.Setenv(envPoolerURL, pooler.URL(databaseOf(os.Getenv(envURL))))
		defer os.Unsetenv(envPoolerURL)
		defer pooler.Stop()
	}
	return m.Run()
}

// Skip skips (or, under CI=true, fails) a test that needs the server
// binaries when they are missing.
func Skip(t testing.TB) {
	t.Helper()
	if _, err := BinDir(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// NewDatabase creates an empty database for one test and drops it after.
// Without a server it skips the test, except under CI=true, where it fails.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(envURL)
	if admin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and no PostgreSQL (set TEST_DATABASE_URL or install the server)")
		}
		t.Skip("no PostgreSQL available (set TEST_DATABASE_URL or install the server)")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "t_" + hex.EncodeToString(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	if Pooled() {
		pooled := os.Getenv(envPoolerURL)
		if pooled == "" {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI=true, %s set and no PgBouncer running (pgtest.Run starts it)", EnvPooler)
			}
			t.Skipf("%s set and no PgBouncer running", EnvPooler)
		}
		return withDatabase(pooled, name)
	}
	return withDatabase(admin, name)
}

// Direct is the direct URL of a database NewDatabase handed out: the same
// database on the server itself, bypassing the pooler, for what needs a
// session (migrations take a session-level advisory lock). Without a
// pooler it is u.
func Direct(u string) string {
	pooled := os.Getenv(envPoolerURL)
	if pooled == "" || !strings.HasPrefix(u, pooled[:strings.LastIndex(pooled, "/")+1]) {
		return u
	}
	return withDatabase(os.Getenv(envURL), databaseOf(u))
}

func withDatabase(u, name string) string {
	i := strings.LastIndex(u, "/")
	j := strings.IndexByte(u[i:], '?')
	if j < 0 {
		return u[:i+1] + name
	}
	return u[:i+1] + name + u[i+j:]
}

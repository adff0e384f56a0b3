package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Pooler is a PgBouncer this process started in front of a PostgreSQL
// server, in transaction pool mode: what `fly mpg attach` puts behind
// DATABASE_URL. A client holds a server connection only for the length of
// a transaction, so session state (named prepared statements, session
// advisory locks, SET) does not survive from one transaction to the next.
type Pooler struct {
	Dir    string
	Port   int
	user   string
	cmd    *exec.Cmd
	log    *os.File
	server string
}

// PoolerBin finds Debian's pgbouncer (in /usr/sbin, often not on PATH).
func PoolerBin() (string, error) {
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/pgbouncer"); err == nil {
		return "/usr/sbin/pgbouncer", nil
	}
	return "", errors.New("pgbouncer not found (Debian: apt-get install pgbouncer)")
}

// StartPooler starts PgBouncer on a free loopback port in front of the
// server that serverURL names (any of its databases), pool_mode
// transaction, clients trusted. It runs as the postgres user (or nobody)
// when this process is root: PgBouncer refuses to run as root.
func StartPooler(serverURL string) (*Pooler, error) {
	bin, err := PoolerBin()
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return nil, fmt.Errorf("pgtest: pooler: parse server URL: %w", err)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		host = "127.0.0.1"
	}
	if port == "" {
		port = "5432"
	}
	pguser := u.User.Username()
	if pguser == "" {
		pguser = "postgres"
	}
	password, _ := u.User.Password()
	dir, err := os.MkdirTemp("", "marketing-pgbouncer-")
	if err != nil {
		return nil, err
	}
	p := &Pooler{Dir: dir, user: pguser, server: serverURL}
	listen, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p.Port = listen
	// Every database on the server, each its own pool; the server
	// connections log in as the server URL's user.
	target := fmt.Sprintf("host=%s port=%s user=%s", host, port, pguser)
	if password != "" {
		target += " password=" + quoteIni(password)
	}
	ini := strings.Join([]string{
		"[databases]",
		"* = " + target,
		"[pgbouncer]",
		"listen_addr = 127.0.0.1",
		"listen_port = " + strconv.Itoa(listen),
		"unix_socket_dir =",
		"auth_type = trust",
		"auth_file = " + filepath.Join(dir, "users.txt"),
		"admin_users = " + pguser,
		"pool_mode = transaction",
		"max_client_conn = 2000",
		"default_pool_size = 10",
		"max_db_connections = 20",
		"server_idle_timeout = 10",
		"server_lifetime = 60",
		"logfile = " + filepath.Join(dir, "pgbouncer.log"),
		"log_connections = 0",
		"log_disconnections = 0",
		"",
	}, "\n")
	files := map[string]string{
		"pgbouncer.ini": ini,
		"users.txt":     fmt.Sprintf("%q \"\"\n", pguser),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	cmd := exec.Command(bin, filepath.Join(dir, "pgbouncer.ini"))
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if os.Geteuid() == 0 {
		cred, err := unprivileged()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		cmd.SysProcAttr.Credential = cred
		for _, name := range []string{"", "pgbouncer.ini", "users.txt"} {
			if err := os.Chown(filepath.Join(dir, name), int(cred.Uid), int(cred.Gid)); err != nil {
				os.RemoveAll(dir)
				return nil, err
			}
		}
	}
	log, err := os.OpenFile(filepath.Join(dir, "stderr.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: start pgbouncer: %w", err)
	}
	p.cmd, p.log = cmd, log
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, p.URL(databaseOf(serverURL)))
		if err == nil {
			_, err = conn.Exec(ctx, "SELECT 1")
			conn.Close(context.Background())
		}
		cancel()
		if err == nil {
			return p, nil
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
			b2, _ := os.ReadFile(filepath.Join(dir, "stderr.log"))
			p.Stop()
			return nil, fmt.Errorf("pgtest: pgbouncer did not become ready: %w\n%s%s", err, b, b2)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// unprivileged is the user PgBouncer runs as when this process is root.
func unprivileged() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("pgtest: running as root needs a postgres (or nobody) user to run pgbouncer as")
}

// quoteIni quotes a libpq connection string value for pgbouncer.ini.
func quoteIni(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// URL of a database through the pooler (the pooler trusts its clients;
// the password stays in pgbouncer.ini).
func (p *Pooler) URL(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", url.User(p.user).String(), p.Port, db)
}

// Stop stops PgBouncer and removes its directory.
func (p *Pooler) Stop() {
	if p.cmd != nil {
		_ = p.cmd.Process.Signal(syscall.SIGTERM) // immediate shutdown
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		p.log.Close()
		p.cmd = nil
	}
	os.RemoveAll(p.Dir)
}

// databaseOf is the database a postgres:// URL names.
func databaseOf(u string) string {
	pu, err := url.Parse(u)
	if err != nil || strings.Trim(pu.Path, "/") == "" {
		return "postgres"
	}
	return strings.Trim(pu.Path, "/")
}

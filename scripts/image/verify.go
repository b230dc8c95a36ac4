package main

import (
	"archive/tar"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

func verify(args []string) error {
	fs := flag.NewFlagSet("image verify", flag.ContinueOnError)
	dir := fs.String("layout", "", "OCI image layout directory (image build's OUT/oci)")
	platform := fs.String("platform", "linux/amd64", "platform of the image to run (this machine's)")
	timeout := fs.Duration("timeout", 60*time.Second, "bound on the whole check")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("verify: --layout is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	img, err := findImage(*dir, *platform)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("verify: config: %w", err)
	}
	if err := checkConfig(cf); err != nil {
		return err
	}
	root, err := os.MkdirTemp("", "gatehouse-rootfs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	// The image's user must reach the unpacked files (MkdirTemp makes 0700).
	if err := os.Chmod(root, 0o755); err != nil {
		return err
	}
	// A non-root user cannot create files owned by 65532: owners are kept
	// only when running as root, where the server then runs as the
	// image's user too.
	asRoot := os.Geteuid() == 0
	if err := unpack(img, root, asRoot); err != nil {
		return err
	}
	fmt.Printf("unpacked %s into %s\n", *platform, root)
	return runEntrypoint(ctx, root, cf, asRoot)
}

// findImage finds platform's image in the layout's (single) index.
func findImage(dir, platform string) (v1.Image, error) {
	lp, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	top, err := lp.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	tm, err := top.IndexManifest()
	if err != nil || len(tm.Manifests) != 1 {
		return nil, fmt.Errorf("verify: want one image index in the layout (%v)", err)
	}
	idx, err := top.ImageIndex(tm.Manifests[0].Digest)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	var platforms []string
	for _, m := range im.Manifests {
		if m.Platform == nil {
			continue
		}
		p := m.Platform.OS + "/" + m.Platform.Architecture
		platforms = append(platforms, p)
		if p == platform {
			return idx.Image(m.Digest)
		}
	}
	return nil, fmt.Errorf("verify: no %s image in the index (it has %v)", platform, platforms)
}

// checkConfig checks what the image promises: a non-root numeric user, the
// volume, the entrypoint.
func checkConfig(cf *v1.ConfigFile) error {
	c := cf.Config
	switch {
	case c.User != fmt.Sprintf("%d:%d", uid, gid):
		return fmt.Errorf("verify: user %q, want %d:%d", c.User, uid, gid)
	case len(c.Entrypoint) == 0 || c.Entrypoint[0] != binaryPath:
		return fmt.Errorf("verify: entrypoint %q", c.Entrypoint)
	case c.WorkingDir != dataDir:
		return fmt.Errorf("verify: working directory %q", c.WorkingDir)
	case c.Healthcheck == nil || len(c.Healthcheck.Test) < 2:
		return errors.New("verify: no health check")
	}
	if _, ok := c.Volumes[dataDir]; !ok {
		return fmt.Errorf("verify: %s is not a volume", dataDir)
	}
	return nil
}

// unpack writes the image's flattened root file system into root, refusing
// any path that would leave it.
func unpack(img v1.Image, root string, keepOwners bool) error {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("verify: unpack: %w", err)
		}
		target := filepath.Join(root, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(target, root+string(os.PathSeparator)) {
			return fmt.Errorf("verify: unpack: %q leaves the root", h.Name)
		}
		mode := os.FileMode(h.Mode).Perm() | os.FileMode(h.Mode)&os.ModeSticky
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("verify: unpack: %s: unexpected entry type %c", h.Name, h.Typeflag)
		}
		if err := os.Chmod(target, mode); err != nil {
			return err
		}
		if keepOwners {
			if err := os.Lchown(target, h.Uid, h.Gid); err != nil {
				return err
			}
		}
	}
}

// runEntrypoint runs the unpacked entrypoint as the image's user (when
// root) with the image's environment, on a free loopback port and with the
// data directory in the unpacked /data volume; waits for /readyz; runs the
// health check command; stops it with SIGTERM.
func runEntrypoint(ctx context.Context, root string, cf *v1.ConfigFile, asRoot bool) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	// The image's environment, with the paths moved under root and the
	// listen address on loopback (a CI machine must not expose a port).
	env := []string{}
	for _, kv := range cf.Config.Env {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "PATH", "ZONEINFO", "GATEHOUSE_DATA_DIR":
			v = rootPaths(root, v)
		case "GATEHOUSE_LISTEN":
			v = addr
		}
		env = append(env, k+"="+v)
	}
	env = append(env, "GATEHOUSE_LOG_FORMAT=text", "SSL_CERT_FILE="+filepath.Join(root, caPath))
	entry := append([]string{filepath.Join(root, cf.Config.Entrypoint[0])}, cf.Config.Entrypoint[1:]...)
	entry = append(entry, cf.Config.Cmd...)
	var attr *syscall.SysProcAttr
	if asRoot {
		attr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, NoSetGroups: true}}
		fmt.Printf("running %q as %d:%d\n", cf.Config.Entrypoint, uid, gid)
	} else {
		fmt.Printf("running %q as this user (uid %d): not root, cannot switch to %d\n", cf.Config.Entrypoint, os.Geteuid(), uid)
	}
	logs, err := os.CreateTemp("", "gatehouse-image-log-")
	if err != nil {
		return err
	}
	defer os.Remove(logs.Name())
	defer logs.Close()
	cmd := exec.Command(entry[0], entry[1:]...)
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr, cmd.SysProcAttr = env, filepath.Join(root, cf.Config.WorkingDir), logs, logs, attr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("verify: start entrypoint: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	fail := func(err error) error {
		_ = cmd.Process.Kill()
		<-done
		out, _ := os.ReadFile(logs.Name())
		return fmt.Errorf("%w\n--- server output:\n%s", err, out)
	}
	url := "http://" + addr + "/readyz"
	if err := waitReady(ctx, url, done); err != nil {
		return fail(err)
	}
	fmt.Printf("ok   GET /readyz -> 200 from the image's entrypoint\n")
	fi, err := os.Stat(filepath.Join(root, dataDir, "encryption-key"))
	if err != nil {
		return fail(fmt.Errorf("verify: the server did not write its key into the volume: %w", err))
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); asRoot && (!ok || st.Uid != uid) {
		return fail(fmt.Errorf("verify: the key in the volume is not owned by %d: the server did not run as the image's user", uid))
	}
	hc := cf.Config.Healthcheck.Test
	probe := exec.CommandContext(ctx, filepath.Join(root, hc[1]), hc[2:]...)
	probe.Env, probe.SysProcAttr = env, attr
	if out, err := probe.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("verify: health check %q: %w: %s", hc[1:], err, out))
	}
	fmt.Printf("ok   health check %q exits 0\n", hc[1:])
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fail(err)
	}
	select {
	case err := <-done:
		if err != nil {
			out, _ := os.ReadFile(logs.Name())
			return fmt.Errorf("verify: exit after SIGTERM: %w\n%s", err, out)
		}
	case <-ctx.Done():
		return fail(errors.New("verify: still running after SIGTERM"))
	}
	fmt.Println("ok   exited 0 after SIGTERM")
	return nil
}

// rootPaths moves each absolute path of a PATH-like list under root.
func rootPaths(root, v string) string {
	parts := strings.Split(v, ":")
	for i, p := range parts {
		if filepath.IsAbs(p) {
			parts[i] = filepath.Join(root, p)
		}
	}
	return strings.Join(parts, ":")
}

func waitReady(ctx context.Context, url string, done <-chan error) error {
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case err := <-done:
			return fmt.Errorf("verify: the entrypoint exited during start-up: %v", err)
		case <-ctx.Done():
			return errors.New("verify: /readyz did not answer 200 in time")
		case <-time.After(200 * time.Millisecond):
		}
		resp, err := client.Get(url)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

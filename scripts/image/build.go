package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's fixed layout. The UID and GID are distroless's "nonroot"
// (65532): numeric, so that Kubernetes' runAsNonRoot can check them without
// reading /etc/passwd.
const (
	uid        = 65532
	gid        = 65532
	binaryPath = "/usr/local/bin/gatehouse"
	dataDir    = "/data"
	caPath     = "/etc/ssl/certs/ca-certificates.crt"
	// zoneinfoPath holds Go's time zone database (GOROOT/lib/time/
	// zoneinfo.zip, 400 kB), found through $ZONEINFO: lighter than
	// Debian's /usr/share/zoneinfo, and kept out of the binary (-tags
	// timetzdata would add it to every non-container install too).
	zoneinfoPath = "/usr/share/zoneinfo.zip"
	port         = "8080"
)

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func build(args []string) error {
	fs := flag.NewFlagSet("image build", flag.ContinueOnError)
	var binaries stringList
	fs.Var(&binaries, "binary", "OS/ARCH=PATH of a static gatehouse binary (repeat per platform)")
	out := fs.String("out", "", "output directory (its oci/ and *.tar are replaced)")
	caCerts := fs.String("ca-certs", "/etc/ssl/certs/ca-certificates.crt", "PEM bundle of CA certificates to ship")
	zoneinfo := fs.String("zoneinfo", "", "Go's zoneinfo.zip (default $(go env GOROOT)/lib/time/zoneinfo.zip)")
	epoch := fs.Int64("epoch", -1, "timestamp of every file and of the image, in seconds (SOURCE_DATE_EPOCH)")
	version := fs.String("version", "dev", "version label and tag")
	revision := fs.String("revision", "", "commit label")
	repo := fs.String("repository", "gatehouse", "repository name of the tag in the tarballs and the layout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *out == "":
		return errors.New("build: --out is required")
	case len(binaries) == 0:
		return errors.New("build: at least one --binary OS/ARCH=PATH is required")
	case *epoch < 0:
		return errors.New("build: --epoch is required (SOURCE_DATE_EPOCH)")
	case *zoneinfo == "":
		return errors.New("build: --zoneinfo is required")
	}
	created := time.Unix(*epoch, 0).UTC()
	tag, err := name.NewTag(*repo + ":" + *version)
	if err != nil {
		return fmt.Errorf("build: tag: %w", err)
	}
	base, err := baseLayer(*caCerts, *zoneinfo, created)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(*out, "oci")); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	var index v1.ImageIndex = mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, b := range binaries {
		platform, bin, ok := strings.Cut(b, "=")
		osName, arch, ok2 := strings.Cut(platform, "/")
		if !ok || !ok2 {
			return fmt.Errorf("build: --binary %q: want OS/ARCH=PATH", b)
		}
		img, err := platformImage(base, bin, osName, arch, created, *version, *revision)
		if err != nil {
			return fmt.Errorf("build %s: %w", platform, err)
		}
		index = mutate.AppendManifests(index, mutate.IndexAddendum{Add: img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: osName, Architecture: arch}}})
		tarPath := filepath.Join(*out, fmt.Sprintf("gatehouse-%s-%s-%s.tar", *version, osName, arch))
		if err := tarball.WriteToFile(tarPath, tag, img); err != nil {
			return fmt.Errorf("build %s: docker tarball: %w", platform, err)
		}
		d, _ := img.Digest()
		fmt.Fprintf(os.Stderr, "%s: image %s, %s\n", platform, d, tarPath)
	}
	index = mutate.Annotations(index, map[string]string{
		"org.opencontainers.image.created":  created.Format(time.RFC3339),
		"org.opencontainers.image.version":  *version,
		"org.opencontainers.image.revision": *revision,
	}).(v1.ImageIndex)
	lp, err := layout.Write(filepath.Join(*out, "oci"), empty.Index)
	if err != nil {
		return fmt.Errorf("build: OCI layout: %w", err)
	}
	if err := lp.AppendIndex(index, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": *version,
		"io.containerd.image.name":          tag.String(),
	})); err != nil {
		return fmt.Errorf("build: OCI layout: %w", err)
	}
	d, err := index.Digest()
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	fmt.Println(d)
	return nil
}

// platformImage is the image of one platform: the base layer, the binary's
// layer, and the configuration.
func platformImage(base v1.Layer, bin, osName, arch string, created time.Time, version, revision string) (v1.Image, error) {
	content, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	binLayer, err := layer([]file{{path: binaryPath, mode: 0o755, content: content}}, created)
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(mutate.MediaType(mutate.ConfigMediaType(empty.Image, types.OCIConfigJSON), types.OCIManifestSchema1),
		mutate.Addendum{Layer: base, History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "gatehouse image: CA certificates, time zones, users, /data"}},
		mutate.Addendum{Layer: binLayer, History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "gatehouse image: " + binaryPath + " " + version}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = osName, arch
	cf.Created = v1.Time{Time: created}
	cf.Author = "Gatehouse"
	cf.Config = v1.Config{
		User: fmt.Sprintf("%d:%d", uid, gid),
		Env: []string{
			"PATH=/usr/local/bin",
			"ZONEINFO=" + zoneinfoPath,
			"GATEHOUSE_DATA_DIR=" + dataDir,
			"GATEHOUSE_LISTEN=0.0.0.0:" + port,
		},
		Entrypoint:   []string{binaryPath, "serve"},
		WorkingDir:   dataDir,
		ExposedPorts: map[string]struct{}{port + "/tcp": {}},
		Volumes:      map[string]struct{}{dataDir: {}},
		StopSignal:   "SIGTERM",
		// Not part of the OCI image spec; Docker (and podman with
		// --format docker semantics) read it from the config. The probe
		// is the binary itself: the image has no shell or curl.
		Healthcheck: &v1.HealthConfig{
			Test:        []string{"CMD", binaryPath, "healthcheck"},
			Interval:    30 * time.Second,
			Timeout:     5 * time.Second,
			StartPeriod: 10 * time.Second,
			Retries:     3,
		},
		Labels: map[string]string{
			"org.opencontainers.image.title":       "gatehouse",
			"org.opencontainers.image.description": "Gatehouse identity and access management",
			"org.opencontainers.image.version":     version,
			"org.opencontainers.image.revision":    revision,
			"org.opencontainers.image.created":     created.Format(time.RFC3339),
		},
	}
	return mutate.ConfigFile(img, cf)
}

// file is one entry of a layer: a regular file, or a directory when
// content is nil and dir is set.
type file struct {
	path     string
	mode     int64
	dir      bool
	uid, gid int
	content  []byte
}

// baseLayer holds what every platform shares: the CA certificates, Go's
// time zone database, /etc/passwd and /etc/group naming the nonroot user
// (for tools that print names), and the data directory owned by it.
func baseLayer(caCerts, zoneinfo string, created time.Time) (v1.Layer, error) {
	ca, err := os.ReadFile(caCerts)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w", err)
	}
	tz, err := os.ReadFile(zoneinfo)
	if err != nil {
		return nil, fmt.Errorf("time zones: %w", err)
	}
	return layer([]file{
		{path: caPath, mode: 0o644, content: ca},
		{path: zoneinfoPath, mode: 0o644, content: tz},
		{path: "/etc/passwd", mode: 0o644, content: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/data:/sbin/nologin\n")},
		{path: "/etc/group", mode: 0o644, content: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{path: dataDir, dir: true, mode: 0o700, uid: uid, gid: gid},
		// A writable /tmp is the runtime's business (--tmpfs /tmp); the
		// directory exists so that one can be mounted on a read-only root.
		{path: "/tmp", dir: true, mode: 0o1777},
	}, created)
}

// layer writes files, their parent directories first, in path order, with
// fixed owners and timestamps, into a gzip-compressed OCI layer.
func layer(files []file, created time.Time) (v1.Layer, error) {
	all := map[string]file{}
	for _, f := range files {
		all[f.path] = f
		for d := path.Dir(f.path); d != "/"; d = path.Dir(d) {
			if _, ok := all[d]; !ok {
				all[d] = file{path: d, dir: true, mode: 0o755}
			}
		}
	}
	paths := make([]string, 0, len(all))
	for p := range all {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		f := all[p]
		h := &tar.Header{Name: strings.TrimPrefix(p, "/"), Mode: f.mode, Uid: f.uid, Gid: f.gid,
			Uname: owner(f.uid), Gname: owner(f.gid), ModTime: created, Format: tar.FormatPAX}
		if f.dir {
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.content))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.content); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil },
		tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestCompression),
		// Digest, the layout and each tarball all read the compressed
		// layer: compress it once.
		tarball.WithCompressedCaching)
}

func owner(id int) string {
	if id == 0 {
		return "root"
	}
	if id == uid {
		return "nonroot"
	}
	return strconv.Itoa(id)
}

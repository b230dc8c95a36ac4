// Package check holds the tests of Gatehouse's deployment files: the Helm
// chart (deploy/helm/gatehouse, linted and rendered with Helm v4 as a
// library, the objects decoded strictly into the Kubernetes API types), the
// plain manifests generated from it (deploy/kubernetes), and the Prometheus
// alerting rules and Grafana dashboard (deploy/prometheus, deploy/grafana),
// checked by promtool and by a real Prometheus scraping a running Gatehouse.
//
// It is a Go module of its own so that the gatehouse binary's go.mod does not
// take on Helm and the Kubernetes modules. Run it from this directory:
//
//	go test .                                   # what CI runs (with GATEHOUSE_BIN)
//	GATEHOUSE_UPDATE_MANIFESTS=1 go test . -run TestPlainManifests   # regenerate deploy/kubernetes
package check

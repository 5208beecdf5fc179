// Command scaleapp pulls in a large real dependency graph (500+ module
// versions): Prometheus with every service-discovery mechanism (AWS, Azure,
// GCE, Kubernetes, Consul, ...), PromQL and the TSDB, the Pulumi SDK, the
// Vault API client and the Docker engine client.
package main

import (
	"fmt"

	vault "github.com/hashicorp/vault/api"
	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusremotewriteexporter"
	docker "github.com/moby/moby/client"
	_ "github.com/prometheus/prometheus/discovery/install"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func main() {
	fmt.Println(promql.NewEngine(promql.EngineOpts{}) != nil, tsdb.DefaultBlockDuration,
		vault.DefaultConfig() != nil, docker.DefaultDockerHost, pulumi.String("x"),
		prometheusremotewriteexporter.NewFactory().Type())
}

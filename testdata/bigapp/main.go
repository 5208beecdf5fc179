package main

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"
	"go.opentelemetry.io/otel"
	"google.golang.org/grpc"
	"k8s.io/client-go/kubernetes"
)

func main() {
	_, _ = config.LoadDefaultConfig(nil)
	fmt.Println(s3.ServiceID, gin.Version, prometheus.DefBuckets, cobra.Command{}, viper.New() != nil, otel.GetTracerProvider() != nil, grpc.Version, kubernetes.Interface(nil))
}

package main

import (
	"context"
	"fmt"

	"cloud.google.com/go/storage"
	"github.com/docker/docker/client"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func main() {
	cli, err := client.NewClientWithOpts(client.FromEnv)
	_, _ = storage.NewClient(context.Background())
	fmt.Println(cli != nil, err, language.English, norm.NFC.String("x"), timestamppb.Now())
}

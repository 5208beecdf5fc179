package main

import (
	"fmt"

	"github.com/gin-gonic/gin"
	"github.com/spf13/cobra"
)

func main() {
	r := gin.New()
	cmd := &cobra.Command{Use: "realapp"}
	fmt.Println(r != nil, cmd.Use)
}

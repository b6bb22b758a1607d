// Command quickstart is the README's Go example: it creates a collection on
// a Tandem (or Milvus) server, inserts two rows and searches them with the
// official Milvus Go SDK.
//
//	go run ./examples/quickstart [-addr localhost:19530]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
)

func main() {
	addr := flag.String("addr", "localhost:19530", "Tandem (or Milvus) address")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := milvusclient.New(ctx, &milvusclient.ClientConfig{Address: *addr})
	if err != nil {
		log.Fatalf("connect: %v", err)
	}
	defer c.Close(ctx)

	// id (auto), a 4-d vector (COSINE), and the dynamic field; indexed and loaded.
	if err := c.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("docs", 4)); err != nil {
		log.Fatalf("create collection: %v", err)
	}
	res, err := c.Insert(ctx, milvusclient.NewRowBasedInsertOption("docs",
		map[string]any{"vector": []float32{1, 0, 0, 0}, "title": "tandem"},
		map[string]any{"vector": []float32{0, 1, 0, 0}, "title": "milvus"}))
	if err != nil {
		log.Fatalf("insert: %v", err)
	}
	for i := 0; i < res.IDs.Len(); i++ {
		id, _ := res.IDs.Get(i)
		fmt.Println("inserted id:", id)
	}

	rs, err := c.Search(ctx, milvusclient.NewSearchOption("docs", 1,
		[]entity.Vector{entity.FloatVector([]float32{0.9, 0.1, 0, 0})}).
		WithFilter(`title like "tan%"`).WithOutputFields("title"))
	if err != nil {
		log.Fatalf("search: %v", err)
	}
	for i := 0; i < rs[0].ResultCount; i++ {
		id, _ := rs[0].IDs.Get(i)
		title, _ := rs[0].GetColumn("title").GetAsString(i)
		fmt.Printf("hit: id %v, score %.3f, title %q\n", id, rs[0].Scores[i], title)
	}
}

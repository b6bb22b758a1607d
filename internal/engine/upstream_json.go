package engine

import (
	"fmt"

	"github.com/tandem-db/tandem/internal/wal"
)

// RecordView is a JSON-friendly view of one record's payload (for change
// stream consumers: `tandem cdc tail`). Fields not relevant to the type
// are empty.
type RecordView struct {
	Type         string            `json:"type"`
	CollectionID int64             `json:"collection_id,omitempty"`
	Collection   string            `json:"collection,omitempty"`
	PartitionID  int64             `json:"partition_id,omitempty"`
	Partition    string            `json:"partition,omitempty"`
	IndexID      int64             `json:"index_id,omitempty"`
	Index        string            `json:"index,omitempty"`
	FieldID      int64             `json:"field_id,omitempty"`
	Params       map[string]string `json:"params,omitempty"`
	Epoch        uint64            `json:"epoch,omitempty"`
	Rows         int               `json:"rows,omitempty"`
	AutoIDFirst  int64             `json:"auto_id_first,omitempty"`
	// Columns maps field ID to the column's values (vectors flattened).
	Columns map[string]any `json:"columns,omitempty"`
	// Keys are a delete's primary keys.
	Keys any `json:"keys,omitempty"`
	// Schema is a create_collection's schema; Collections a reset's
	// collection names.
	Schema      any      `json:"schema,omitempty"`
	Collections []string `json:"collections,omitempty"`
	// Database is the database of a database, alias or create_collection
	// record (the new one of a rename, whose Collection is the new name);
	// Alias an alias record's alias; Properties a database's properties.
	Database   string            `json:"database,omitempty"`
	Alias      string            `json:"alias,omitempty"`
	Properties map[string]string `json:"properties,omitempty"`
}

// UpstreamTypeName names record types, including the upstream ones.
func UpstreamTypeName(t wal.RecordType) string {
	switch t {
	case RecUpstream:
		return "upstream"
	case RecUpstreamReset:
		return "snapshot_reset"
	case RecUpstreamMark:
		return "snapshot_end"
	}
	return RecordTypeName(t)
}

// ViewRecord decodes a record (any engine type, or an upstream inner
// type) into a RecordView.
func ViewRecord(typ wal.RecordType, payload []byte) (*RecordView, error) {
	v := &RecordView{Type: UpstreamTypeName(typ)}
	var body recBody
	var err error
	switch typ {
	case RecUpstreamReset, RecUpstreamMark:
		body, err = decodeInner(typ, payload)
	default:
		body, err = decodeRecord(typ, payload)
	}
	if err != nil {
		return nil, err
	}
	switch b := body.(type) {
	case nil:
	case *recEpochStart:
		v.Epoch = b.epoch
	case *recCreateCollection:
		v.CollectionID, v.Collection, v.PartitionID, v.Schema = b.id, b.name, b.defaultPartID, b.schema
		v.Database = normDB(b.db)
	case *recCreateDatabase:
		v.Database, v.Properties = b.name, kvMap(b.props)
	case *recDropDatabase:
		v.Database = b.name
	case *recAlterDatabase:
		v.Database, v.Properties = b.name, kvMap(b.props)
	case *recAlias:
		v.Database, v.Alias, v.CollectionID = b.db, b.alias, b.collID
	case *recRenameCollection:
		v.CollectionID, v.Database, v.Collection = b.collID, b.newDB, b.newName
	case *recDropCollection:
		v.CollectionID = b.collID
	case *recAlterCollection:
		v.CollectionID, v.Schema = b.collID, b.schema
	case *recCreatePartition:
		v.CollectionID, v.PartitionID, v.Partition = b.collID, b.partID, b.name
	case *recDropPartition:
		v.CollectionID, v.PartitionID = b.collID, b.partID
	case *recCreateIndex:
		v.CollectionID, v.IndexID, v.Index, v.FieldID, v.Params = b.collID, b.indexID, b.name, b.fieldID, b.params
	case *recDropIndex:
		v.CollectionID, v.IndexID = b.collID, b.indexID
	case *recLoad:
		v.CollectionID = b.collID
	case *recInsert:
		v.CollectionID, v.PartitionID, v.Rows, v.AutoIDFirst = b.collID, b.partID, b.rows, b.autoFirst
		v.Columns = map[string]any{}
		for _, c := range b.cols {
			v.Columns[fmt.Sprint(c.fieldID)] = c.data
		}
	case *recCompact:
		v.CollectionID = b.collID
	case *recDelete:
		v.CollectionID, v.PartitionID = b.collID, b.partID
		if b.isStr {
			v.Keys, v.Rows = b.strs, len(b.strs)
		} else {
			v.Keys, v.Rows = b.ints, len(b.ints)
		}
	case *recUpstreamReset:
		for _, c := range b.cat.sortedColls() {
			v.Collections = append(v.Collections, c.name)
		}
	case *recUpstream:
		in, err := ViewRecord(b.typ, b.payload)
		if err != nil {
			return nil, err
		}
		in.Type = "upstream/" + in.Type
		return in, nil
	}
	return v, nil
}

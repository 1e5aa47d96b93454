// Copyright 2021 FerretDB Inc.
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
//     http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

// This file is not part of FerretDB: it is the Canopée local patch (deploy/local/ferretdb/README.md)
// that lets SQLite use the indexes FerretDB creates.

package sqlite

import (
	"fmt"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// maxInValues bounds the values of one pushed-down $in (SQLite's variable limit is far above).
const maxInValues = 2000

// prepareWhereClause returns a WHERE clause (with its arguments) that pre-selects the rows a filter
// can match, or "" when nothing in the filter can be pushed down.
//
// The clause is a conjunction over the filter's top-level fields holding a plain string, boolean or ObjectID
// (`{f: v}`, `{f: {$eq: v}}`) or a list of them (`{f: {$in: [...]}}`), written with the expression
// of FerretDB's indexes (`_ferretdb_sjson->"f"`), so SQLite searches an index on that field when
// there is one. The handler still applies the whole filter to the rows returned: a pushdown only has
// to keep every row that can match. It would not keep a document whose field is an array holding
// the value (MongoDB matches it), so fields compared this way must hold scalars — true of every
// field the Canopée services query.
func prepareWhereClause(filter *types.Document) (string, []any) {
	if filter == nil || filter.Len() == 0 {
		return "", nil
	}

	var conds []string
	var args []any

	for _, key := range filter.Keys() {
		if !pushableKey(key) {
			continue
		}

		cond, condArgs := pushableCondition(key, must.NotFail(filter.Get(key)))
		if cond == "" {
			continue
		}

		// a condition on _id (unique) is all SQLite needs: with others beside it, the planner may
		// pick a less selective index (e.g. a status shared by many documents) and read them all
		if key == "_id" {
			return " WHERE " + cond, condArgs
		}

		conds = append(conds, cond)
		args = append(args, condArgs...)
	}

	if len(conds) == 0 {
		return "", nil
	}

	return " WHERE " + strings.Join(conds, " AND "), args
}

// pushableKey is true for a top-level field name that is safe to quote as a SQLite identifier and
// cannot name one of the table's real columns.
// pushableCondition returns the SQL condition (with its arguments) for one top-level field's
// part of the filter, or "" when it cannot be pushed down.
func pushableCondition(key string, value any) (string, []any) {
	column := fmt.Sprintf("%s->%q", metadata.DefaultColumn, key)

	if arg, ok := pushableValue(value); ok {
		return column + " = ?", []any{arg}
	}

	op, ok := value.(*types.Document)
	if !ok || op.Len() != 1 {
		return "", nil
	}

	if eq, err := op.Get("$eq"); err == nil {
		if arg, ok := pushableValue(eq); ok {
			return column + " = ?", []any{arg}
		}
		return "", nil
	}

	in, err := op.Get("$in")
	if err != nil {
		return "", nil
	}

	list, ok := in.(*types.Array)
	if !ok || list.Len() == 0 || list.Len() > maxInValues {
		return "", nil
	}

	inArgs := make([]any, 0, list.Len())
	for i := 0; i < list.Len(); i++ {
		arg, ok := pushableValue(must.NotFail(list.Get(i)))
		if !ok {
			return "", nil
		}
		inArgs = append(inArgs, arg)
	}

	return column + " IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(inArgs)), ", ") + ")", inArgs
}

func pushableKey(key string) bool {
	if key == "" || strings.HasPrefix(key, "$") || strings.HasPrefix(key, "_ferretdb_") {
		return false
	}

	for _, r := range key {
		if r < 0x21 || r > 0x7e || r == '"' || r == '.' || r == '\\' {
			return false
		}
	}

	return true
}

// pushableValue returns the stored JSON text of a boolean, string or ObjectID value. Strings are limited to
// printable ASCII without the characters JSON encoders may escape differently (`"`, `\`, `<`, `>`,
// `&`), so the text compared is exactly the text stored.
func pushableValue(v any) (string, bool) {
	switch v := v.(type) {
	case bool:
		return string(must.NotFail(sjson.MarshalSingleValue(v))), true
	case types.ObjectID:
		return string(must.NotFail(sjson.MarshalSingleValue(v))), true
	case string:
		for _, r := range v {
			if r < 0x20 || r > 0x7e || strings.ContainsRune(`"\<>&`, r) {
				return "", false
			}
		}

		return string(must.NotFail(sjson.MarshalSingleValue(v))), true
	default:
		return "", false
	}
}

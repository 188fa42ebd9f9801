-- strawberry-activity: the daily ledger (strawberry_activity_activityday) partitioned by
-- month on PostgreSQL 12+. See docs/partitioning.md.
--
-- Run it once, as one transaction, after `manage.py migrate`:
--
--     psql -1 -v ON_ERROR_STOP=1 -f partition_ledger.sql "$DATABASE_URL"
--
-- or from a migration of your own app (strawberry_activity.sql.partition_ledger). It:
--
--   1. creates two functions, kept for cron:
--        strawberry_activity_add_ledger_partitions(months_ahead, since)   -- new months
--        strawberry_activity_drop_ledger_partitions(before)               -- whole old months
--   2. converts the ledger, unless it is partitioned already (then it only adds the months
--      ahead, so running the file twice is harmless):
--        * locks it against writes (EXCLUSIVE: reads go on, tracking's ledger writes wait at
--          most DB_TIMEOUT and are dropped, as during any outage);
--        * creates a table PARTITION BY RANGE (day) with the same columns, one partition per
--          month from the oldest row's month to 3 months ahead, and a DEFAULT partition;
--        * copies every row (INSERT ... SELECT), carries the id sequence on;
--        * builds the same constraints and indexes under the same names: the unique
--          (user_id, kind, day) the package's INSERT ... ON CONFLICT needs, the
--          (kind, day, user_id) index, the foreign key to the user table exactly as Django
--          created it (DEFERRABLE INITIALLY DEFERRED; Django deletes the rows itself), and
--          PRIMARY KEY (id, day): a partitioned table's keys must hold the partition key.
--          Django still reads `id` as the primary key (ids stay unique: one sequence);
--        * swaps the tables (the only moment reads wait) and drops the old one.
--
-- Pass it to a DB-API cursor without parameters (its RAISE messages hold `%`).

CREATE OR REPLACE FUNCTION strawberry_activity_add_ledger_partitions(
    months_ahead integer DEFAULT 3,
    since date DEFAULT NULL,
    ledger regclass DEFAULT NULL
) RETURNS integer
LANGUAGE plpgsql AS $fn$
-- Creates the missing monthly partitions from the month of `since` (default: this month) to
-- `months_ahead` months after this one; returns how many it created. Rows of such a month
-- already in the DEFAULT partition (a backfill before the first partition, say) are moved
-- into the new partition. `ledger`: the partitioned table (default: the ledger).
DECLARE
    parent regclass := coalesce(ledger, to_regclass('strawberry_activity_activityday'));
    parent_schema text;
    fallback regclass;
    month date := date_trunc('month', coalesce(since, current_date))::date;
    last_month date := (date_trunc('month', current_date)
                        + make_interval(months => months_ahead))::date;
    next_month date;
    part text;
    bounds text;
    moved bigint;
    created integer := 0;
BEGIN
    IF months_ahead IS NULL OR months_ahead < 0 THEN
        RAISE EXCEPTION 'months_ahead must be 0 or more, not %', months_ahead;
    END IF;
    SELECT n.nspname INTO parent_schema
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = parent AND c.relkind = 'p';
    IF parent_schema IS NULL THEN
        RAISE EXCEPTION 'the ledger % is not partitioned: run partition_ledger.sql first',
            coalesce(parent::text, 'strawberry_activity_activityday');
    END IF;
    SELECT pt.partdefid::regclass INTO fallback
    FROM pg_partitioned_table pt WHERE pt.partrelid = parent AND pt.partdefid <> 0;

    WHILE month <= last_month LOOP
        next_month := (month + interval '1 month')::date;
        -- Partitions are named after the ledger, whatever the parent is called meanwhile.
        part := 'strawberry_activity_activityday_p' || to_char(month, 'YYYYMM');
        bounds := 'FOR VALUES FROM (' || quote_literal(month) || ') TO ('
                  || quote_literal(next_month) || ')';
        IF to_regclass(quote_ident(parent_schema) || '.' || quote_ident(part)) IS NULL THEN
            moved := 0;
            IF fallback IS NOT NULL THEN
                EXECUTE 'SELECT count(*) FROM ' || fallback || ' WHERE day >= $1 AND day < $2'
                    INTO moved USING month, next_month;
            END IF;
            IF moved = 0 THEN
                EXECUTE 'CREATE TABLE ' || quote_ident(parent_schema) || '.' || quote_ident(part)
                    || ' PARTITION OF ' || parent || ' ' || bounds;
            ELSE
                -- A partition cannot be created over rows of the DEFAULT one: move them into
                -- a table of their own, then attach it (which builds its indexes).
                EXECUTE 'CREATE TABLE ' || quote_ident(parent_schema) || '.' || quote_ident(part)
                    || ' (LIKE ' || parent || ' INCLUDING DEFAULTS)';
                EXECUTE 'WITH gone AS (DELETE FROM ' || fallback
                    || ' WHERE day >= $1 AND day < $2 RETURNING *) INSERT INTO '
                    || quote_ident(parent_schema) || '.' || quote_ident(part)
                    || ' SELECT * FROM gone' USING month, next_month;
                EXECUTE 'ALTER TABLE ' || parent || ' ATTACH PARTITION '
                    || quote_ident(parent_schema) || '.' || quote_ident(part) || ' ' || bounds;
                RAISE NOTICE 'moved % rows from % into %', moved, fallback, part;
            END IF;
            created := created + 1;
        END IF;
        month := next_month;
    END LOOP;
    RETURN created;
END
$fn$;

CREATE OR REPLACE FUNCTION strawberry_activity_drop_ledger_partitions(before date)
RETURNS integer
LANGUAGE plpgsql AS $fn$
-- Detaches and drops every monthly partition whose days are all before `before`; returns how
-- many. The fastest prune (no row is read), but it bypasses the package: afterwards run
-- `python manage.py activity_rollup --rebuild` (rollups of the dropped days are not
-- invalidated by it). Rows before `before` in partial months or in the DEFAULT partition
-- stay: `manage.py prune_activity` deletes those.
DECLARE
    parent regclass := to_regclass('strawberry_activity_activityday');
    part record;
    dropped integer := 0;
BEGIN
    IF parent IS NULL OR NOT EXISTS (
        SELECT 1 FROM pg_class WHERE oid = parent AND relkind = 'p'
    ) THEN
        RAISE EXCEPTION 'the ledger is not partitioned: run partition_ledger.sql first';
    END IF;
    FOR part IN
        SELECT c.oid::regclass AS name
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = parent
          AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
          AND substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([0-9-]+)''\)')::date
              <= before
        ORDER BY 1
    LOOP
        EXECUTE 'ALTER TABLE ' || parent || ' DETACH PARTITION ' || part.name;
        EXECUTE 'DROP TABLE ' || part.name;
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END
$fn$;

DO $convert$
DECLARE
    ledger text := 'strawberry_activity_activityday';
    old regclass := to_regclass('strawberry_activity_activityday');
    new_name text := 'strawberry_activity_activityday_new';
    new regclass;
    ledger_schema text;
    kind_of char;
    oldest date;
    last_id bigint;
    con record;
    idx record;
    definition text;
    renames text[] := '{}';
    i integer;
BEGIN
    IF old IS NULL THEN
        RAISE EXCEPTION 'no table strawberry_activity_activityday: run manage.py migrate first';
    END IF;
    SELECT c.relkind, n.nspname INTO kind_of, ledger_schema
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = old;
    IF kind_of = 'p' THEN
        RAISE NOTICE 'the ledger is partitioned already: only adding the months ahead';
        PERFORM strawberry_activity_add_ledger_partitions(3);
        RETURN;
    END IF;
    IF to_regclass(quote_ident(ledger_schema) || '.' || quote_ident(new_name)) IS NOT NULL THEN
        RAISE EXCEPTION 'a table % exists already', new_name;
    END IF;

    -- Writers wait from here to COMMIT; readers go on reading the old table until the swap.
    LOCK TABLE strawberry_activity_activityday IN EXCLUSIVE MODE;
    -- Rows written earlier in this transaction have deferred foreign-key checks pending,
    -- which would forbid dropping their table: check them now (deferred again at the end).
    FOR con IN SELECT conname FROM pg_constraint WHERE conrelid = old AND contype = 'f' LOOP
        EXECUTE 'SET CONSTRAINTS ' || quote_ident(ledger_schema) || '.' || quote_ident(con.conname)
            || ' IMMEDIATE';
    END LOOP;

    EXECUTE 'CREATE TABLE ' || quote_ident(ledger_schema) || '.' || quote_ident(new_name)
        || ' (LIKE ' || old || ' INCLUDING DEFAULTS INCLUDING IDENTITY) PARTITION BY RANGE (day)';
    new := to_regclass(quote_ident(ledger_schema) || '.' || quote_ident(new_name));
    SELECT min(day) INTO oldest FROM strawberry_activity_activityday;
    PERFORM strawberry_activity_add_ledger_partitions(3, least(oldest, current_date), new);
    EXECUTE 'CREATE TABLE ' || quote_ident(ledger_schema) || '.' || quote_ident(ledger || '_default')
        || ' PARTITION OF ' || new || ' DEFAULT';

    -- Rows first, indexes after: building an index is faster than growing it row by row.
    EXECUTE 'INSERT INTO ' || new || ' SELECT * FROM ' || old;
    -- Ids go on from the old sequence (never reused, deleted rows included).
    SELECT greatest(coalesce(max(id), 0), 1) INTO last_id FROM strawberry_activity_activityday;
    EXECUTE 'SELECT greatest($1, last_value) FROM '
        || pg_get_serial_sequence(old::text, 'id') INTO last_id USING last_id;
    PERFORM setval(pg_get_serial_sequence(new::text, 'id'), last_id, true);

    -- Constraints and indexes of the old table, same definitions, temporary names (index
    -- names are unique per schema) renamed at the swap.
    FOR con IN
        SELECT conname, contype, pg_get_constraintdef(oid) AS def
        FROM pg_constraint WHERE conrelid = old ORDER BY contype DESC, conname
    LOOP
        definition := con.def;
        IF con.contype IN ('p', 'u') THEN
            IF NOT EXISTS (
                SELECT 1 FROM pg_constraint c JOIN pg_attribute a
                    ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
                WHERE c.conrelid = old AND c.conname = con.conname AND a.attname = 'day'
            ) THEN
                IF con.contype = 'u' THEN
                    RAISE EXCEPTION 'unique constraint % lacks the day column', con.conname;
                END IF;
                definition := regexp_replace(definition, '\)$', ', day)');
            END IF;
            EXECUTE 'ALTER TABLE ' || new || ' ADD CONSTRAINT '
                || quote_ident(left(con.conname, 59) || '_new') || ' ' || definition;
            renames := renames || ARRAY[left(con.conname, 59) || '_new', con.conname::text];
        ELSE
            -- Foreign keys and checks: their names are per table, no renaming.
            EXECUTE 'ALTER TABLE ' || new || ' ADD CONSTRAINT ' || quote_ident(con.conname)
                || ' ' || definition;
        END IF;
    END LOOP;
    FOR idx IN
        SELECT c.relname, pg_get_indexdef(i.indexrelid) AS def, i.indisunique
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = old
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                          AND k.conrelid = old)
        ORDER BY c.relname
    LOOP
        IF idx.indisunique THEN
            RAISE EXCEPTION 'unique index % is not a constraint: convert it by hand', idx.relname;
        END IF;
        EXECUTE 'CREATE INDEX ' || quote_ident(left(idx.relname, 59) || '_new') || ' ON ' || new
            || ' ' || substring(idx.def FROM ' USING .*$');
        renames := renames || ARRAY[left(idx.relname, 59) || '_new', idx.relname::text];
    END LOOP;
    -- Autovacuum never analyzes a partitioned parent: plans need its statistics.
    EXECUTE 'ANALYZE ' || new;

    -- The swap: readers wait only for this.
    DROP TABLE strawberry_activity_activityday;
    FOR i IN 1 .. coalesce(array_length(renames, 1), 0) BY 2 LOOP
        EXECUTE 'ALTER INDEX ' || quote_ident(ledger_schema) || '.' || quote_ident(renames[i])
            || ' RENAME TO ' || quote_ident(renames[i + 1]);
    END LOOP;
    EXECUTE 'ALTER TABLE ' || new || ' RENAME TO ' || quote_ident(ledger);
    EXECUTE 'ALTER SEQUENCE ' || pg_get_serial_sequence(new::text, 'id')
        || ' RENAME TO ' || quote_ident(ledger || '_id_seq');
    FOR con IN SELECT conname FROM pg_constraint
               WHERE conrelid = new AND contype = 'f' AND condeferred LOOP
        EXECUTE 'SET CONSTRAINTS ' || quote_ident(ledger_schema) || '.' || quote_ident(con.conname)
            || ' DEFERRED';
    END LOOP;
END
$convert$;

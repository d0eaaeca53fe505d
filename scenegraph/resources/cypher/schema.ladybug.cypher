// scenegraph schema for LadybugDB (the embedded store).
// LadybugDB needs every table and property declared up front; `scenegraph init` runs this file,
// and the store reads the columns below to shape its batched writes. Neo4j needs no tables:
// see schema.neo4j.cypher for its constraints.
// Free-form data (unknown corpus fields, provenance, quality) lives in JSON strings so that both
// stores hold the same properties.
CREATE NODE TABLE IF NOT EXISTS Scene(id STRING PRIMARY KEY, title STRING, text STRING, lang STRING, depth INT64, root STRING, content_hash STRING, props STRING);
CREATE NODE TABLE IF NOT EXISTS Component(key STRING PRIMARY KEY, kind STRING, name STRING);
CREATE NODE TABLE IF NOT EXISTS Archetype(name STRING PRIMARY KEY);
CREATE NODE TABLE IF NOT EXISTS Hyperlexeme(form STRING PRIMARY KEY, kind STRING);
CREATE NODE TABLE IF NOT EXISTS Expression(id STRING PRIMARY KEY, text STRING, form STRING, style STRING, register STRING, tone STRING, target STRING, lang STRING, provenance STRING, props STRING, quality STRING, passed BOOLEAN, status STRING);
CREATE REL TABLE IF NOT EXISTS HAS(FROM Scene TO Component, role STRING);
CREATE REL TABLE IF NOT EXISTS EVOKES(FROM Scene TO Archetype);
CREATE REL TABLE IF NOT EXISTS CONTAINS(FROM Scene TO Scene);
CREATE REL TABLE IF NOT EXISTS LEADS_TO(FROM Scene TO Scene);
CREATE REL TABLE IF NOT EXISTS RESONATES(FROM Scene TO Scene, score DOUBLE);
CREATE REL TABLE IF NOT EXISTS NAMES(FROM Hyperlexeme TO Scene);
CREATE REL TABLE IF NOT EXISTS EXPRESSES(FROM Expression TO Scene);

// scenegraph schema for Neo4j 5. `scenegraph --store bolt://… init` runs this file; it also runs
// as-is in Neo4j Browser or cypher-shell. Uniqueness constraints give every MERGE key an index
// (Community edition has no property-existence constraints); the extra indexes serve the
// explorer's filters and the example queries.
CREATE CONSTRAINT scene_id IF NOT EXISTS FOR (n:Scene) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT component_key IF NOT EXISTS FOR (n:Component) REQUIRE n.key IS UNIQUE;
CREATE CONSTRAINT archetype_name IF NOT EXISTS FOR (n:Archetype) REQUIRE n.name IS UNIQUE;
CREATE CONSTRAINT hyperlexeme_form IF NOT EXISTS FOR (n:Hyperlexeme) REQUIRE n.form IS UNIQUE;
CREATE CONSTRAINT expression_id IF NOT EXISTS FOR (n:Expression) REQUIRE n.id IS UNIQUE;
CREATE INDEX component_name IF NOT EXISTS FOR (n:Component) ON (n.name);
CREATE INDEX expression_style IF NOT EXISTS FOR (n:Expression) ON (n.style);
CREATE INDEX scene_root IF NOT EXISTS FOR (n:Scene) ON (n.root);

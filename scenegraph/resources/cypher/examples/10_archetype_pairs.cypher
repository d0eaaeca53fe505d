// Archetypes that scenes evoke together.
MATCH (x:Archetype)<-[:EVOKES]-(s:Scene)-[:EVOKES]->(y:Archetype)
WHERE x.name < y.name
RETURN x.name AS archetype, y.name AS with_archetype, count(s) AS scenes
ORDER BY scenes DESC, archetype, with_archetype
LIMIT 15;

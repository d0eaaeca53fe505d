// Scenes that evoke an archetype, with their titles.
MATCH (s:Scene)-[:EVOKES]->(a:Archetype {name: 'порог'})
RETURN s.id AS scene, s.title AS title
ORDER BY scene;

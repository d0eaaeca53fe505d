// Scenes held in one tone, and the field each happens in.
MATCH (s:Scene)-[:HAS]->(t:Component {kind: 'tone', name: 'тревога'})
MATCH (s)-[:HAS]->(f:Component {kind: 'field'})
RETURN s.id AS scene, f.name AS field
ORDER BY scene, field;
